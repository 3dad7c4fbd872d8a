// The `azd up` entry: subscription scope, so it creates the resource group, then deploys the
// same infra/main.bicep the az scripts deploy. azd passes AZURE_ENV_NAME, AZURE_LOCATION and
// AZURE_PRINCIPAL_ID through main.parameters.json, and finds the resources by their tags.
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('AZURE_ENV_NAME: names the resource group (rg-<name>) and tags every resource (azd-env-name).')
param environmentName string

@minLength(1)
@description('AZURE_LOCATION: the region of the resource group and every resource.')
param location string

@description('AZURE_PRINCIPAL_ID: who runs azd; gets Key Vault Secrets Officer so the postprovision hook can write the first keys. Empty: the deployer (deployer()).')
param principalId string = ''

@allowed(['User', 'ServicePrincipal'])
@description('AZURE_PRINCIPAL_TYPE: the kind of principalId.')
param principalType string = 'User'

@description('ENTRA_TENANT_ID: the tenant whose tokens the gateway accepts (the preprovision hook sets it).')
param entraTenantId string = tenant().tenantId

@description('ENTRA_AUDIENCES: the API client id and/or App ID URI (the preprovision hook registers the app and sets it).')
param entraAudiences string

var tags = { 'azd-env-name': environmentName }

resource group 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module gateway '../main.bicep' = {
  name: 'gateway-${environmentName}'
  scope: group
  params: {
    environmentName: environmentName
    location: location
    tags: tags
    entraTenantId: entraTenantId
    entraAudiences: entraAudiences
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
  }
}

// Outputs land in the azd environment under these names (the hooks read them).
output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = group.name
output AZURE_FUNCTION_APP_NAME string = gateway.outputs.AZURE_FUNCTION_APP_NAME
output GATEWAY_URL string = gateway.outputs.GATEWAY_URL
output KEY_VAULT_NAME string = gateway.outputs.KEY_VAULT_NAME
output ENTRA_TENANT_ID string = gateway.outputs.ENTRA_TENANT_ID
output ENTRA_AUDIENCES string = gateway.outputs.ENTRA_AUDIENCES
output COSMOS_ENDPOINT string = gateway.outputs.COSMOS_ENDPOINT
output APPLICATIONINSIGHTS_NAME string = gateway.outputs.APPLICATIONINSIGHTS_NAME
