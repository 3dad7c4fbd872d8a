// What docs/operations.md says to alert on, as Azure Monitor log alerts over the gateway's
// Application Insights telemetry (OpenTelemetry metrics land in customMetrics, requests in
// requests), and a workbook of its decisions, policy index age and upstream latency. Alerts fire
// into an optional action group (an e-mail address); without one they still show in the portal.

param location string
param tags object
param applicationInsightsName string
param namePrefix string

@description('Where alerts are e-mailed; empty: no action group (alerts show in the portal only).')
param alertEmail string = ''

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: '${namePrefix}-alerts'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'gateway'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// One row per alert: the query's measure column, and when it fires.
var alerts = [
  {
    name: 'decisions-failing-closed'
    displayName: 'Gateway decisions failing closed (503)'
    description: 'Decisions answered 503: policies, keys or Cosmos DB unavailable, every call refused (docs/operations.md#health).'
    severity: 1
    window: 'PT5M'
    query: 'customMetrics | where name == "gateway.decisions" and tostring(customDimensions.outcome) == "error" and tostring(customDimensions.status) == "503" | summarize failures = sum(valueSum)'
    measure: 'failures'
    threshold: 0
  }
  {
    name: 'jwks-refresh-failures'
    displayName: 'Gateway cannot refresh Entra signing keys'
    description: 'JWKS fetches failing for 30 minutes: cached keys still verify, but a key rotation at Entra will not reach the gateway.'
    severity: 2
    window: 'PT30M'
    query: 'customMetrics | where name == "gateway.jwks.refreshes" | summarize failed = sumif(valueSum, tostring(customDimensions.outcome) == "failed"), ok = sumif(valueSum, tostring(customDimensions.outcome) == "ok") | extend failing = iff(failed > 0 and ok == 0, 1, 0)'
    measure: 'failing'
    threshold: 0
  }
  {
    name: 'audit-drops'
    displayName: 'Gateway audit records dropped'
    description: 'The audit queue overflowed: decisions are missing from the audit trail (docs/operations.md#the-audit-trail).'
    severity: 2
    window: 'PT15M'
    // A cumulative counter: any growth in the window is a drop.
    query: 'customMetrics | where name == "gateway.audit.dropped" | summarize dropped = max(valueMax) - min(valueMin)'
    measure: 'dropped'
    threshold: 0
  }
  {
    name: 'server-errors'
    displayName: 'Gateway 5xx rate above 1%'
    description: 'More than 1% of requests answered 5xx over 5 minutes: a dependency or downstream in trouble.'
    severity: 2
    window: 'PT5M'
    query: 'requests | summarize total = count(), failed = countif(toint(resultCode) >= 500) | extend rate = iff(total == 0, 0.0, todouble(failed) / todouble(total))'
    measure: 'rate'
    threshold: json('0.01')
  }
]

resource rules 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [for alert in alerts: {
  name: '${namePrefix}-${alert.name}'
  location: location
  tags: tags
  properties: {
    displayName: alert.displayName
    description: alert.description
    severity: alert.severity
    enabled: true
    scopes: [applicationInsights.id]
    evaluationFrequency: 'PT5M'
    windowSize: alert.window
    criteria: {
      allOf: [
        {
          query: alert.query
          timeAggregation: 'Total'
          metricMeasureColumn: alert.measure
          operator: 'GreaterThan'
          threshold: alert.threshold
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: empty(alertEmail) ? [] : [actionGroup.id]
    }
  }
}]

// The operator's view: decisions by outcome, policy index age, upstream latency by resource.
var workbookContent = {
  version: 'Notebook/1.0'
  items: [
    {
      type: 3
      name: 'decisions-by-outcome'
      content: {
        version: 'KqlItem/1.0'
        title: 'Decisions by outcome'
        query: 'customMetrics | where name == "gateway.decisions" | summarize decisions = sum(valueSum) by outcome = tostring(customDimensions.outcome), bin(timestamp, 5m) | render timechart'
        queryType: 0
        resourceType: 'microsoft.insights/components'
      }
    }
    {
      type: 3
      name: 'policy-index-age'
      content: {
        version: 'KqlItem/1.0'
        title: 'Policy index age (s)'
        query: 'customMetrics | where name == "gateway.policy.index_age" | summarize age = max(valueMax) by bin(timestamp, 5m) | render timechart'
        queryType: 0
        resourceType: 'microsoft.insights/components'
      }
    }
    {
      type: 3
      name: 'upstream-latency'
      content: {
        version: 'KqlItem/1.0'
        title: 'Upstream latency by resource (ms, mean)'
        query: 'customMetrics | where name == "gateway.upstream.duration" | summarize latency = sum(valueSum) / sum(valueCount) by resource = tostring(customDimensions.resource), bin(timestamp, 5m) | render timechart'
        queryType: 0
        resourceType: 'microsoft.insights/components'
      }
    }
  ]
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, namePrefix, 'gateway-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'Authorization gateway'
    category: 'workbook'
    sourceId: applicationInsights.id
    serializedData: string(workbookContent)
  }
}

output alertNames array = [for (alert, i) in alerts: rules[i].name]
