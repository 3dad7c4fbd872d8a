// Cosmos DB for NoSQL: the gateway's policies, resources, revocations, audit records and the DPoP
// proofs it has seen. Local (key) authentication is off, so the only way in is Entra ID with a
// data-plane role (sqlRoleAssignments in rbac.bicep). The containers are created here and not by the gateway:
// an Entra identity with a data-plane role may read and write items but cannot create
// databases or containers, so src/store/cosmos.ts only finds them here.

param location string
param tags object
param accountName string
param databaseName string

@allowed(['serverless', 'provisioned'])
param throughputMode string = 'serverless'

@minValue(1000)
@description('Autoscale maximum RU/s shared by the database; used only when throughputMode is "provisioned".')
param autoscaleMaxThroughput int = 1000

@minValue(1)
@description('Days an audit record lives (the audit container\'s defaultTtl, in seconds once converted).')
param auditRetentionDays int = 90

@description('Partition key path of the audit container: each page of records carries `pk` = "<day>:<bucket>" (bucket from the caller\'s oid; src/audit/audit-record.ts), so one user\'s day is one logical partition and a busy day is spread over several.')
param auditPartitionKeyPath string = '/pk'

var serverless = throughputMode == 'serverless'

// The state containers of src/store/cosmos.ts (CONTAINERS / PARTITION_KEYS): small documents
// read by id or loaded whole into each instance's memory, partitioned by their own id.
var stateContainerNames = [
  'policies'
  'resources'
  'revocations'
]

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: accountName
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    capabilities: serverless ? [{ name: 'EnableServerless' }] : []
    // Entra ID only: no primary/secondary keys work against this account.
    disableLocalAuth: true
    // Databases and containers change through ARM (this file), never through the data plane.
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
    enableAutomaticFailover: false
    enableMultipleWriteLocations: false
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
    // Serverless accounts take no throughput setting at all.
    options: serverless ? {} : { autoscaleSettings: { maxThroughput: autoscaleMaxThroughput } }
  }
}

resource stateContainers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = [
  for name in stateContainerNames: {
    parent: database
    name: name
    properties: {
      resource: {
        id: name
        partitionKey: {
          paths: ['/id']
          kind: 'Hash'
        }
      }
    }
  }
]

// Audit records expire on their own: defaultTtl (seconds) deletes them without a sweeper.
resource auditContainer 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: 'audit'
  properties: {
    resource: {
      id: 'audit'
      partitionKey: {
        paths: [auditPartitionKeyPath]
        kind: 'Hash'
      }
      defaultTtl: auditRetentionDays * 86400
      // Records are stored in pages (src/audit/cosmos-audit-store.ts); queries select pages by
      // partition and time range only, so indexing the records inside would cost RU on every
      // write for nothing.
      indexingPolicy: {
        indexingMode: 'consistent'
        includedPaths: [
          { path: '/minTs/?' }
          { path: '/maxTs/?' }
        ]
        excludedPaths: [
          { path: '/*' }
        ]
      }
    }
  }
}

// One document per DPoP proof seen (src/dpop/cosmos-replay-store.ts), id = hash of the key and `jti`,
// so a replay is a 409 on every instance. Each document carries its own `ttl` (the proof's
// remaining window, about two minutes); defaultTtl -1 turns per-item TTLs on without a default.
// Nothing is queried: no index.
resource dpopProofsContainer 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: 'dpop-proofs'
  properties: {
    resource: {
      id: 'dpop-proofs'
      partitionKey: {
        paths: ['/id']
        kind: 'Hash'
      }
      defaultTtl: -1
      indexingPolicy: {
        indexingMode: 'consistent'
        includedPaths: []
        excludedPaths: [
          { path: '/*' }
        ]
      }
    }
  }
}

output accountName string = account.name
output endpoint string = account.properties.documentEndpoint
output databaseName string = database.name
