// The gateway's Function App on the Flex Consumption plan (Linux, Node 22). It runs as the
// user-assigned identity for everything: host storage, the deployment package, Key Vault
// references, telemetry and Cosmos DB. HTTPS only, TLS 1.2, no FTP, and no basic-auth
// publishing credentials: code goes in through `az functionapp deployment source config-zip`
// with an Entra token (scripts/deploy.sh).

param location string
param tags object
param functionAppName string
param planName string

@description('Resource id of the user-assigned managed identity.')
param identityId string

@description('Client id of the user-assigned managed identity.')
param identityClientId string

param storageAccountName string
param deploymentContainerName string
param applicationInsightsName string

@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('The gateway\'s own settings (docs/reference.md §2), merged into the app settings.')
param gatewaySettings object

@description('Settings the operator adds (e.g. functionKey Key Vault references); never override the ones above.')
param additionalSettings object = {}

@description('GATEWAY_ISSUER; empty: the app\'s own address, https://<defaultHostName>/api.')
param gatewayIssuer string = ''

@description('The Functions host\'s own request body limit (FUNCTIONS_REQUEST_BODY_SIZE_LIMIT): above PROXY_MAX_BODY_BYTES, so the gateway answers an oversized body with its own 413.')
param requestBodyLimitBytes int = 105906176

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: functionAppName
  location: location
  // azd finds the service it deploys by this tag (azure.yaml: services.gateway).
  tags: union(tags, { 'azd-service-name': 'gateway' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references (SAS_SIGNING_KEYS) resolve with this identity, not a system one.
    keyVaultReferenceIdentity: identityId
    // Flex Consumption refuses most siteConfig properties (ftpsState: error 51021; http20Enabled,
    // alwaysOn, linuxFxVersion are not Flex settings): FTP is off through the publishing
    // credentials policies below, the runtime is in functionAppConfig.
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageAccount.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }

  // All app settings, declared whole: a redeployment removes a setting that was dropped here.
  // Flex Consumption takes the runtime from functionAppConfig, so FUNCTIONS_WORKER_RUNTIME and
  // WEBSITE_RUN_FROM_PACKAGE must not be set.
  resource appSettings 'config' = {
    name: 'appsettings'
    properties: union(additionalSettings, gatewaySettings, {
      // Host storage with the managed identity: no account key anywhere.
      AzureWebJobsStorage__accountName: storageAccount.name
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identityClientId
      // Telemetry: the connection string locates the component; the authentication string makes
      // the agent sign in with the identity (the component refuses instrumentation-key-only data).
      APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
      // DefaultAzureCredential (Cosmos DB, managedIdentity downstreams) picks the user-assigned
      // identity by this client id; without it there is no identity to pick.
      AZURE_CLIENT_ID: identityClientId
      // The host refuses larger bodies itself (its default is 100 MB) before the gateway sees them.
      FUNCTIONS_REQUEST_BODY_SIZE_LIMIT: string(requestBodyLimitBytes)
      // Always set: unset, the issuer (the statements' iss, the discovery documents, the DPoP htu
      // base) would follow each request's Host header. The app's own address unless a custom
      // domain or front door is given; the site's host name is known once the site exists, which
      // this child resource waits for.
      GATEWAY_ISSUER: empty(gatewayIssuer) ? 'https://${functionApp.properties.defaultHostName}/api' : gatewayIssuer
    })
  }

  // No basic-auth (user name / password) publishing: neither FTP nor the SCM site.
  resource ftpPublishing 'basicPublishingCredentialsPolicies' = {
    name: 'ftp'
    properties: {
      allow: false
    }
  }

  resource scmPublishing 'basicPublishingCredentialsPolicies' = {
    name: 'scm'
    properties: {
      allow: false
    }
  }
}

output name string = functionApp.name
output url string = 'https://${functionApp.properties.defaultHostName}'
