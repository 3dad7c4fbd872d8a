// Azure Managed Redis for quotas counted across instances (REDIS_URL, docs/quotas.md), opt-in
// (main.bicep: deployRedis). TLS only, Entra ID only: access keys are off, and the gateway's
// identity reaches the database through a data access policy assignment (modules/rbac.bicep).

param location string
param tags object = {}

@description('Name of the Azure Managed Redis cluster.')
param clusterName string

@description('Azure Managed Redis SKU: Balanced_B0 is the smallest (a quota counter is a few bytes).')
param skuName string = 'Balanced_B0'

resource cluster 'Microsoft.Cache/redisEnterprise@2025-04-01' = {
  name: clusterName
  location: location
  tags: tags
  sku: {
    name: skuName
  }
  properties: {
    minimumTlsVersion: '1.2'
  }
}

// One database: port 10000, TLS only, no access keys. EnterpriseCluster: one endpoint, so a plain
// (non-cluster) client works; a call's counters share one hash tag anyway (src/quota/quota.ts).
// NoEviction: a counter must never be evicted to make room (that would reset a quota).
resource database 'Microsoft.Cache/redisEnterprise/databases@2025-04-01' = {
  parent: cluster
  name: 'default'
  properties: {
    clientProtocol: 'Encrypted'
    port: 10000
    clusteringPolicy: 'EnterpriseCluster'
    evictionPolicy: 'NoEviction'
    accessKeysAuthentication: 'Disabled'
  }
}

output clusterName string = cluster.name
output url string = 'rediss://${cluster.properties.hostName}:10000'
