// The Function App's host storage and the blob container Flex Consumption deploys from. Shared
// key access is off: the host (AzureWebJobsStorage__credential = managedidentity) and the
// deployment (authentication type UserAssignedIdentity) both use the gateway's identity, with
// the roles granted in rbac.bicep.

param location string
param tags object

@minLength(3)
@maxLength(24)
param storageAccountName string

@description('Blob container holding the app package Flex Consumption runs.')
param deploymentContainerName string

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }

  resource blobServices 'blobServices' = {
    name: 'default'

    resource deploymentContainer 'containers' = {
      name: deploymentContainerName
      properties: {
        publicAccess: 'None'
      }
    }
  }
}

output name string = storageAccount.name
output blobEndpoint string = storageAccount.properties.primaryEndpoints.blob
