// Every permission the deployment grants, in one place. Each assignment is named
// guid(scope, principal, role), so a redeployment finds the same assignment instead of failing
// on a duplicate, and the role is named next to its id.
//
// The gateway's identity gets exactly what it uses:
//   storage account   Storage Blob Data Owner        host storage and the deployment package
//                     (Queue / Table Data Contributor only when switched on: the gateway has
//                     HTTP triggers only, which need neither)
//   App Insights      Monitoring Metrics Publisher   telemetry with Entra auth (local auth off)
//   Key Vault         Key Vault Secrets User         the SAS key ring, through the app setting's
//                                                    Key Vault reference; read only
//   Cosmos DB         Cosmos DB Built-in Data Contributor (data plane)   items only; databases
//                                                    and containers stay under ARM (cosmos.bicep)
//   Managed Redis     the "default" data access policy (data plane; only with deployRedis)
//                                                    quota counters and DPoP proofs with an Entra
//                                                    ID token: the database has no access keys
// The deploying principal gets Key Vault Secrets Officer, so scripts/deploy.sh can write the
// first SAS key and scripts/rotate-sas-key.sh can rotate it.

@description('Principal (object) id of the gateway\'s user-assigned managed identity.')
param gatewayPrincipalId string

param storageAccountName string
param applicationInsightsName string
param cosmosAccountName string
param keyVaultName string

@description('Name of the Azure Managed Redis cluster (modules/redis.bicep); empty: none deployed.')
param redisClusterName string = ''

@description('Object id of the user or service principal running the deployment; empty: no grant.')
param deployerPrincipalId string = ''

@allowed(['User', 'ServicePrincipal', 'Group'])
param deployerPrincipalType string = 'User'

@description('Grant Storage Queue Data Contributor (needed only for queue or blob triggers).')
param enableQueue bool = false

@description('Grant Storage Table Data Contributor (needed only for table bindings or host diagnostic events).')
param enableTable bool = false

// Built-in Azure role definition ids (the same in every tenant).
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // Storage Queue Data Contributor
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Storage Table Data Contributor
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6' // Key Vault Secrets User
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7' // Key Vault Secrets Officer
// Cosmos DB data-plane role (sqlRoleDefinitions, not an Azure RBAC role).
var cosmosDataContributor = '00000000-0000-0000-0000-000000000002' // Cosmos DB Built-in Data Contributor

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource cosmosAccount 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' existing = {
  name: cosmosAccountName
}

// Storage Blob Data Owner: the Functions host's blobs (keys, leases) and the deployment package.
resource gatewayBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storageAccount.id, gatewayPrincipalId, storageBlobDataOwner)
  scope: storageAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: gatewayPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Queue Data Contributor: off unless a queue or blob trigger is added.
resource gatewayQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (enableQueue) {
  name: guid(storageAccount.id, gatewayPrincipalId, storageQueueDataContributor)
  scope: storageAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributor)
    principalId: gatewayPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Table Data Contributor: off unless a table binding is added.
resource gatewayTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (enableTable) {
  name: guid(storageAccount.id, gatewayPrincipalId, storageTableDataContributor)
  scope: storageAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
    principalId: gatewayPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Monitoring Metrics Publisher: Entra-authenticated telemetry to Application Insights.
resource gatewayMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, gatewayPrincipalId, monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: gatewayPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Key Vault Secrets User: read the SAS key ring through the Key Vault reference.
resource gatewaySecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, gatewayPrincipalId, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: gatewayPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Key Vault Secrets Officer: the deploying principal writes the first key and rotates it.
resource deployerSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(vault.id, deployerPrincipalId, keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
}

// Cosmos DB Built-in Data Contributor (data plane): read and write items. Scoped to the account,
// which holds nothing but the gateway's database: the SDK also reads account metadata at "/".
resource gatewayCosmosDataContributor 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = {
  parent: cosmosAccount
  name: guid(cosmosAccount.id, gatewayPrincipalId, cosmosDataContributor)
  properties: {
    roleDefinitionId: '${cosmosAccount.id}/sqlRoleDefinitions/${cosmosDataContributor}'
    principalId: gatewayPrincipalId
    scope: cosmosAccount.id
  }
}

resource redisCluster 'Microsoft.Cache/redisEnterprise@2025-04-01' existing = if (!empty(redisClusterName)) {
  name: empty(redisClusterName) ? 'none' : redisClusterName

  resource database 'databases' existing = {
    name: 'default'
  }
}

// Azure Managed Redis data access (not an Azure role): the gateway's identity, by object id, with
// the built-in "default" access policy (every data command; no admin commands).
resource gatewayRedisAccess 'Microsoft.Cache/redisEnterprise/databases/accessPolicyAssignments@2025-04-01' = if (!empty(redisClusterName)) {
  parent: redisCluster::database
  name: 'gateway'
  properties: {
    accessPolicyName: 'default'
    user: {
      objectId: gatewayPrincipalId
    }
  }
}
