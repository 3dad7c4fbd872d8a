// The gateway in Azure: a Function App on the Flex Consumption plan, its identity, storage,
// monitoring, Cosmos DB and Key Vault. Deploy with `npm run deploy` (scripts/deploy.sh), which
// also registers the Entra app, publishes the code and stores the first SAS key; docs/deploy.md
// explains every parameter. Nothing here uses an account key: every data-plane call is made with
// the user-assigned managed identity, and every permission is granted in modules/rbac.bicep.
targetScope = 'resourceGroup'

metadata description = 'Entra ID authorization gateway for Azure Functions (Flex Consumption, Cosmos DB, Key Vault)'

// ---------------------------------------------------------------------------------------------
// Naming and placement
// ---------------------------------------------------------------------------------------------

@minLength(1)
@maxLength(40)
@description('Name of this environment (e.g. "gateway-prod"): seeds every resource name and the gateway-env tag.')
param environmentName string

@description('Region of every resource. Flex Consumption is not offered in every region: az functionapp list-flexconsumption-locations.')
param location string = resourceGroup().location

@description('Extra tags for every resource.')
param tags object = {}

// ---------------------------------------------------------------------------------------------
// Entra ID (the app registration comes from scripts/register-app.sh: Bicep cannot create it)
// ---------------------------------------------------------------------------------------------

@description('ENTRA_AUTHORITY: the authority host. Sovereign clouds use their own host.')
param entraAuthority string = 'https://login.microsoftonline.com'

@description('ENTRA_TENANT_ID: a tenant GUID, or "organizations" / "common" for a multi-tenant gateway.')
param entraTenantId string = tenant().tenantId

@description('ENTRA_ALLOWED_TENANTS: comma list of tenant GUIDs. Empty: the tenant itself (single-tenant); required when multi-tenant.')
param entraAllowedTenants string = ''

@minLength(1)
@description('ENTRA_AUDIENCES: comma list of the API app\'s client id and/or App ID URI, e.g. "<appId>,api://<appId>".')
param entraAudiences string

@minValue(0)
@maxValue(600)
@description('ENTRA_CLOCK_SKEW_SECONDS: tolerance on exp / nbf.')
param entraClockSkewSeconds int = 60

@description('GATEWAY_ISSUER: the issuer URL downstreams trust in x-gateway-principal, the discovery documents and DPoP proofs; empty: https://<the app default host name>/api, never the Host header of a request. Set it when callers reach the gateway through a custom domain or a front door.')
param gatewayIssuer string = ''

@description('Where the alerts of docs/operations.md are e-mailed; empty: alerts show in the portal only.')
param alertEmail string = ''

@description('ENTRA_ALLOW_ACL_AUTHORIZATION: admit tokens with neither scp nor roles (APIs that authorize apps by client id).')
param entraAllowAclAuthorization bool = false

@allowed([
  'shared'
  'local'
])
@description('DPOP_REPLAY_STORE: shared (each DPoP proof written once to Cosmos DB: no instance accepts it twice) or local (each instance remembers its own proofs: no write per request, but a proof replayed to another instance within two minutes passes).')
param dpopReplayStore string = 'shared'

@description('GATEWAY_ADMIN_ROLE: the app role that may use the admin API.')
param gatewayAdminRole string = 'Gateway.Admin'

// ---------------------------------------------------------------------------------------------
// Gateway behaviour (defaults equal src/config/defaults.ts; test/infra checks they stay equal)
// ---------------------------------------------------------------------------------------------

@description('COSMOS_DATABASE: the database the gateway keeps its state in.')
param cosmosDatabaseName string = 'gateway'

@minValue(1)
@maxValue(86400)
@description('SAS_DEFAULT_TTL_SECONDS: lifetime of an issued SAS token when none is asked.')
param sasDefaultTtlSeconds int = 300

@minValue(1)
@maxValue(86400)
@description('SAS_MAX_TTL_SECONDS: hard cap on an issued SAS token\'s lifetime. Also how long to wait between promoting and retiring a signing key.')
param sasMaxTtlSeconds int = 3600

@minLength(1)
@description('DOWNSTREAM_ALLOWED_HOSTS: comma list of host names ("*.azurewebsites.net" form allowed) a resource\'s upstream may point at.')
param downstreamAllowedHosts string = '*.azurewebsites.net'

@description('DOWNSTREAM_KEY_SETTINGS: comma list of the app settings (added through additionalAppSettings, e.g. Key Vault references) that functionKey resources may send as x-functions-key. Empty: no functionKey resource.')
param downstreamKeySettings string = ''

@minValue(1)
@maxValue(3600)
@description('POLICY_REFRESH_SECONDS: how often each instance pulls policy / resource / revocation changes.')
param policyRefreshSeconds int = 10

@minValue(2)
@maxValue(86400)
@description('POLICY_MAX_STALENESS_SECONDS: oldest policy, resource and revocation state an instance decides on; past it (Cosmos DB unreachable that long) decisions answer 503. At least twice POLICY_REFRESH_SECONDS.')
param policyMaxStalenessSeconds int = 30

@minValue(0)
@maxValue(1073741824)
@description('PROXY_MAX_BODY_BYTES: largest request body the proxy forwards.')
param proxyMaxBodyBytes int = 104857600

@minValue(0)
@description('RATE_LIMIT_PRINCIPAL_PER_SECOND: requests per second one caller may make to one instance (burst twice that); 0 turns the limit off.')
param rateLimitPrincipalPerSecond int = 100

@minValue(0)
@description('RATE_LIMIT_IP_PER_SECOND: requests per second one client IP may make to one instance (burst twice that); 0 turns the limit off.')
param rateLimitIpPerSecond int = 200

@description('More app settings, e.g. the Key Vault reference a functionKey resource names in keySetting: {"ORDERS_KEY": "@Microsoft.KeyVault(SecretUri=https://<vault>.vault.azure.net/secrets/orders-function-key/)"}. The gateway\'s own settings win on a clash. Settings added outside this template are removed by the next deployment.')
param additionalAppSettings object = {}

// ---------------------------------------------------------------------------------------------
// Capacity and cost
// ---------------------------------------------------------------------------------------------

@allowed(['serverless', 'provisioned'])
@description('Cosmos DB capacity: "serverless" (pay per request, the default) or "provisioned" (autoscale throughput shared by the database).')
param cosmosThroughputMode string = 'serverless'

@minValue(1000)
@description('Autoscale maximum RU/s of the database when cosmosThroughputMode is "provisioned" (it scales down to a tenth of this).')
param cosmosAutoscaleMaxThroughput int = 1000

@minValue(1)
@maxValue(3650)
@description('Days an audit record lives in the audit container before Cosmos DB deletes it (defaultTtl); also AUDIT_RETENTION_DAYS, so the audit API refuses a range older than that.')
param auditRetentionDays int = 90

@description('Deploy Azure Managed Redis (Entra ID only, TLS only) and set REDIS_URL: quotas counted exactly across instances (docs/quotas.md). Without it, quotas are counted per instance.')
param deployRedis bool = false

@description('Azure Managed Redis SKU when deployRedis is true.')
param redisSkuName string = 'Balanced_B0'

@description('AUDIT_DECISION_INPUTS: audit records keep what the policies read of the caller (roles, scopes, groups, the claims policies name), for gateway replay and review; false keeps only oid, tid and azp.')
param auditDecisionInputs bool = true

@minValue(1)
@maxValue(1000)
@description('Upper bound on Flex Consumption instances: a cost ceiling as much as a scale limit.')
param maximumInstanceCount int = 40

@allowed([512, 2048, 4096])
@description('Memory of each Flex Consumption instance, in MB.')
param instanceMemoryMB int = 2048

@minValue(30)
@maxValue(730)
@description('Days Log Analytics keeps logs (30 is included in the ingestion price).')
param logRetentionDays int = 30

// ---------------------------------------------------------------------------------------------
// Who deploys
// ---------------------------------------------------------------------------------------------

@description('Object id of the principal that gets Key Vault Secrets Officer so the deployment can write the first keys. Empty: whoever runs the deployment (deployer(), no Microsoft Graph lookup needed).')
param deployerPrincipalId string = ''

@allowed(['User', 'ServicePrincipal', 'Group'])
@description('Kind of principal deployerPrincipalId names.')
param deployerPrincipalType string = 'User'

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

var abbrs = loadJsonContent('abbreviations.json')
// Stable per subscription, resource group and environment: a second deployment finds the same
// resources, two environments in one group do not collide.
var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var allTags = union(tags, { 'gateway-env': environmentName })

var functionAppName = '${abbrs.webSitesFunctions}gateway-${resourceToken}'
// Flex Consumption reads the app package from this blob container (with the managed identity).
var deploymentContainerName = 'app-package-${resourceToken}'
// The secret scripts/deploy.sh creates and scripts/rotate-sas-key.sh rotates.
var sasSigningKeysSecretName = 'sas-signing-keys'
// The statement signing keys (x-gateway-principal), created by scripts/deploy.sh likewise.
var statementSigningKeysSecretName = 'statement-signing-keys'

// A single-tenant gateway accepts its own tenant; a multi-tenant one must be told which tenants
// (the gateway refuses to start without ENTRA_ALLOWED_TENANTS then, naming the setting).
var isMultiTenant = contains(['organizations', 'common'], entraTenantId)
var effectiveAllowedTenants = !empty(entraAllowedTenants) ? entraAllowedTenants : (isMultiTenant ? '' : entraTenantId)

// ---------------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------------

// The gateway's one identity: host storage, deployment package, Cosmos DB, Key Vault references,
// Application Insights ingestion and downstream calls all use it. User-assigned, so that every
// role can be granted before the app exists and survives the app being recreated.
resource gatewayIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${abbrs.managedIdentityUserAssignedIdentities}gateway-${resourceToken}'
  location: location
  tags: allTags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    tags: allTags
    workspaceName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    retentionInDays: logRetentionDays
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  params: {
    location: location
    tags: allTags
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    namePrefix: 'gateway-${resourceToken}'
    alertEmail: alertEmail
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    tags: allTags
    storageAccountName: '${abbrs.storageStorageAccounts}${resourceToken}'
    deploymentContainerName: deploymentContainerName
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  params: {
    location: location
    tags: allTags
    accountName: '${abbrs.documentDBDatabaseAccounts}${resourceToken}'
    databaseName: cosmosDatabaseName
    throughputMode: cosmosThroughputMode
    autoscaleMaxThroughput: cosmosAutoscaleMaxThroughput
    auditRetentionDays: auditRetentionDays
  }
}

module keyVault 'modules/key-vault.bicep' = {
  name: 'key-vault'
  params: {
    location: location
    tags: allTags
    vaultName: '${abbrs.keyVaultVaults}${resourceToken}'
  }
}

module redis 'modules/redis.bicep' = if (deployRedis) {
  name: 'redis'
  params: {
    location: location
    tags: allTags
    clusterName: '${abbrs.cacheRedisEnterprise}${resourceToken}'
    skuName: redisSkuName
  }
}

// Every permission of the deployment, in one place.
module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  params: {
    gatewayPrincipalId: gatewayIdentity.properties.principalId
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    cosmosAccountName: cosmos.outputs.accountName
    keyVaultName: keyVault.outputs.name
    redisClusterName: deployRedis ? redis!.outputs.clusterName : ''
    // deployer(): the identity running this deployment, known to ARM without Microsoft Graph
    // (works for a CI service principal without directory read, and for az login --identity).
    deployerPrincipalId: !empty(deployerPrincipalId) ? deployerPrincipalId : deployer().objectId
    deployerPrincipalType: deployerPrincipalType
  }
}

module gateway 'modules/function-app.bicep' = {
  name: 'function-app'
  params: {
    location: location
    tags: allTags
    functionAppName: functionAppName
    planName: '${abbrs.webServerFarms}${resourceToken}'
    identityId: gatewayIdentity.id
    identityClientId: gatewayIdentity.properties.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    additionalSettings: additionalAppSettings
    // Empty: the app's own address (https://<default host name>/api), set by the module.
    gatewayIssuer: gatewayIssuer
    // 1 MiB above the gateway's limit: a body just over PROXY_MAX_BODY_BYTES reaches the gateway.
    requestBodyLimitBytes: proxyMaxBodyBytes + 1048576
    gatewaySettings: {
      ENTRA_AUTHORITY: entraAuthority
      ENTRA_TENANT_ID: entraTenantId
      ENTRA_ALLOWED_TENANTS: effectiveAllowedTenants
      ENTRA_AUDIENCES: entraAudiences
      ENTRA_CLOCK_SKEW_SECONDS: string(entraClockSkewSeconds)
      ENTRA_ALLOW_ACL_AUTHORIZATION: entraAllowAclAuthorization ? 'true' : 'false'
      GATEWAY_ADMIN_ROLE: gatewayAdminRole
      COSMOS_ENDPOINT: cosmos.outputs.endpoint
      COSMOS_DATABASE: cosmos.outputs.databaseName
      // Resolved by the platform with the user-assigned identity (keyVaultReferenceIdentity);
      // versionless, so a restart picks up a rotated ring.
      SAS_SIGNING_KEYS: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.uri}secrets/${sasSigningKeysSecretName}/)'
      STATEMENT_SIGNING_KEYS: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.uri}secrets/${statementSigningKeysSecretName}/)'
      SAS_DEFAULT_TTL_SECONDS: string(sasDefaultTtlSeconds)
      SAS_MAX_TTL_SECONDS: string(sasMaxTtlSeconds)
      DOWNSTREAM_ALLOWED_HOSTS: downstreamAllowedHosts
      DOWNSTREAM_KEY_SETTINGS: downstreamKeySettings
      POLICY_REFRESH_SECONDS: string(policyRefreshSeconds)
      POLICY_MAX_STALENESS_SECONDS: string(policyMaxStalenessSeconds)
      PROXY_MAX_BODY_BYTES: string(proxyMaxBodyBytes)
      RATE_LIMIT_PRINCIPAL_PER_SECOND: string(rateLimitPrincipalPerSecond)
      RATE_LIMIT_IP_PER_SECOND: string(rateLimitIpPerSecond)
      DPOP_REPLAY_STORE: dpopReplayStore
      // The gateway refuses audit ranges older than the container keeps (one number, two readers).
      AUDIT_RETENTION_DAYS: string(auditRetentionDays)
      AUDIT_DECISION_INPUTS: auditDecisionInputs ? 'true' : 'false'
      // Empty without deployRedis: the gateway then counts quotas per instance (and says so).
      REDIS_URL: deployRedis ? redis!.outputs.url : ''
      // Never COSMOS_KEY (the account has local auth disabled) and never PORT (local stack only).
    }
  }
  // The app starts with its roles in place, so its first start does not fail on storage or Key Vault.
  dependsOn: [rbac]
}

// ---------------------------------------------------------------------------------------------
// Outputs: named as the app settings they feed; never a key or a connection string
// ---------------------------------------------------------------------------------------------

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = resourceGroup().name
output AZURE_FUNCTION_APP_NAME string = gateway.outputs.name
output GATEWAY_URL string = gateway.outputs.url
output AZURE_CLIENT_ID string = gatewayIdentity.properties.clientId
output AZURE_PRINCIPAL_ID string = gatewayIdentity.properties.principalId
output ENTRA_AUTHORITY string = entraAuthority
output ENTRA_TENANT_ID string = entraTenantId
output ENTRA_AUDIENCES string = entraAudiences
output COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output COSMOS_DATABASE string = cosmos.outputs.databaseName
output COSMOS_ACCOUNT_NAME string = cosmos.outputs.accountName
output KEY_VAULT_NAME string = keyVault.outputs.name
output KEY_VAULT_URI string = keyVault.outputs.uri
output DOWNSTREAM_ALLOWED_HOSTS string = downstreamAllowedHosts
output SAS_MAX_TTL_SECONDS int = sasMaxTtlSeconds
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
