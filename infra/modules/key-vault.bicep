// The Key Vault holding the SAS signing key ring (secret `sas-signing-keys`, written by
// scripts/deploy.sh and scripts/rotate-sas-key.sh) and the statement signing keys (secret
// `statement-signing-keys`, written by scripts/deploy.sh); never by this template, so a
// redeployment never replaces a key. RBAC mode only: access policies are off, and who may read or write
// is in rbac.bicep. Soft delete and purge protection mean a deleted key ring can be recovered
// and cannot be destroyed early.

param location string
param tags object

@minLength(3)
@maxLength(24)
param vaultName string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: vaultName
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

output name string = vault.name
output uri string = vault.properties.vaultUri
