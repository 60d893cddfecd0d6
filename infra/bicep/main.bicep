// The quoting saga in one resource group: a Flex Consumption Function App running as a
// user-assigned identity, with Cosmos DB (event store + change feed), Event Hubs (commands),
// host storage and Application Insights. No keys or connection strings: every connection is
// identity-based and every service has local auth disabled.
// Deploy: `azd up` (main.parameters.json), or `az deployment group create -g <rg>
// -f main.bicep -p @main.dev.parameters.json` (or main.prod.parameters.json).
targetScope = 'resourceGroup'

@minLength(1)
@maxLength(64)
@description('Environment name (dev, prod, or the azd environment); seeds unique resource names.')
param environmentName string

@description('Azure region of every resource (must offer Flex Consumption).')
param location string = resourceGroup().location

@description('Cosmos DB serverless (default) or provisioned autoscale throughput.')
param cosmosServerless bool = true

@description('Autoscale maximum RU/s for the database when cosmosServerless is false.')
@minValue(1000)
param cosmosAutoscaleMaxThroughput int = 1000

@description('Partitions per Event Hub (cannot be changed later on Standard).')
@minValue(1)
@maxValue(32)
param eventHubPartitionCount int = 2

@description('Days Event Hubs keeps an event.')
@minValue(1)
@maxValue(7)
param eventHubRetentionDays int = 1

@description('Replication of the host storage account.')
@allowed(['Standard_LRS', 'Standard_ZRS', 'Standard_GRS', 'Standard_GZRS'])
param storageSkuName string = 'Standard_LRS'

// 3.12: the Flex stack's designated default and supported to 2028-10-30; the whole test suite
// also runs on it (3.11 and 3.13 stay allowed: scripts/compat.sh runs the fast tiers on 3.13).
// Versions and end-of-support dates: see modules/functionapp.bicep.
// https://learn.microsoft.com/powershell/module/az.functions/get-azfunctionappflexconsumptionruntime
@description('Python version of the Flex Consumption runtime.')
@allowed(['3.11', '3.12', '3.13'])
param pythonVersion string = '3.12'

@description('Flex Consumption scale-out limit.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Flex Consumption memory per instance.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('Seconds a saga step may wait before the timer expires it (SAGA_STEP_TIMEOUT_SECONDS).')
param sagaStepTimeoutSeconds string = '300'

@description('NCRONTAB schedule of the stuck-saga sweep (SAGA_TIMEOUT_SCHEDULE).')
param sagaTimeoutSchedule string = '0 */1 * * * *'

@description('Largest premium underwriting accepts (UNDERWRITING_PREMIUM_LIMIT).')
param underwritingPremiumLimit string = '1000000'

@description('Active policies a customer may hold (MAX_ACTIVE_POLICIES).')
param maxActivePolicies string = '5'

@description('Tags for every resource.')
param tags object = {}

var resourceToken = toLower(uniqueString(resourceGroup().id, environmentName, location))
var allTags = union(tags, { 'azd-env-name': environmentName })

// The aggregates' hubs, consumer groups and rule settings, generated from domain/registry.py by
// `python -m devhost wiring --write` (tests/infra/test_wiring.py checks it is current): a new
// aggregate reaches the deployment, roles included, without an edit here.
var wiring = loadJsonContent('aggregates.json')

// The names the code reads (bootstrap.DEFAULTS and the %SETTING% binding expressions). Each is
// both an app setting and the name of the resource it points at, so they cannot drift apart.
var appNames = union({
  COSMOS_DATABASE: 'quoting'
  EVENTS_CONTAINER: 'events'
  SAGAS_CONTAINER: 'sagas'
  LEASES_CONTAINER: 'leases'
  VIEWS_CONTAINER: 'views'
  DEADLETTERS_CONTAINER: 'deadletters'
  SAGA_EVENTS_HUB: 'saga-events'
}, wiring.names)

// Who does what on Event Hubs: the orchestrator, the timer and the dead-letter replay publish to
// every hub; each command handler consumes its own hub through its own consumer group.
// (Loops, not map() lambdas: checkov's Bicep parser, pycep-parser 0.5.1, reads no lambda but
// filter(), and would skip this file.)
var commandHubNames = [for commandHub in wiring.commandHubs: commandHub.hub]
var publishedHubs = concat(commandHubNames, [appNames.SAGA_EVENTS_HUB])
var hubConsumers = [for commandHub in wiring.commandHubs: {
  hub: commandHub.hub
  consumerGroup: commandHub.consumerGroup
}]
// saga-events is read outside the app only: a consumer group of its own, no role for the app.
var hubSubscribers = [
  { hub: appNames.SAGA_EVENTS_HUB, consumerGroup: 'saga-subscribers' }
]

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    name: 'id-func-${resourceToken}'
    location: location
    tags: allTags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: allTags
    publisherPrincipalId: identity.outputs.principalId
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: allTags
    skuName: storageSkuName
    deploymentContainerName: 'app-package'
    appPrincipalId: identity.outputs.principalId
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  params: {
    accountName: 'cosmos-${resourceToken}'
    location: location
    tags: allTags
    serverless: cosmosServerless
    autoscaleMaxThroughput: cosmosAutoscaleMaxThroughput
    databaseName: appNames.COSMOS_DATABASE
    streamContainerNames: [
      appNames.EVENTS_CONTAINER
      appNames.SAGAS_CONTAINER
    ]
    viewsContainerName: appNames.VIEWS_CONTAINER
    idPartitionedContainerNames: [
      appNames.LEASES_CONTAINER
      appNames.DEADLETTERS_CONTAINER
    ]
    appPrincipalId: identity.outputs.principalId
  }
}

module eventHubs 'modules/eventhubs.bicep' = {
  name: 'eventhubs'
  params: {
    namespaceName: 'evhns-${resourceToken}'
    location: location
    tags: allTags
    hubNames: publishedHubs
    partitionCount: eventHubPartitionCount
    messageRetentionInDays: eventHubRetentionDays
    senderHubNames: publishedHubs
    consumers: hubConsumers
    subscriberGroups: hubSubscribers
    appPrincipalId: identity.outputs.principalId
  }
}

// Connection prefixes shared by the triggers and the SDK clients (bootstrap.COSMOS_CONNECTION,
// bootstrap.EVENTHUBS_CONNECTION); `__clientId` picks the user-assigned identity.
// https://learn.microsoft.com/azure/azure-functions/functions-reference#configure-an-identity-based-connection
var connectionSettings = {
  CosmosDb__accountEndpoint: cosmos.outputs.endpoint
  CosmosDb__credential: 'managedidentity'
  CosmosDb__clientId: identity.outputs.clientId
  EventHubs__fullyQualifiedNamespace: eventHubs.outputs.fullyQualifiedNamespace
  EventHubs__credential: 'managedidentity'
  EventHubs__clientId: identity.outputs.clientId
  AZURE_CLIENT_ID: identity.outputs.clientId
}

var behaviourSettings = {
  STORE_BACKEND: 'cosmos'
  PUBLISHER_BACKEND: 'eventhubs'
  COSMOS_ENSURE_CONTAINERS: 'false' // Bicep creates the containers; the identity cannot
  SAGA_STEP_TIMEOUT_SECONDS: sagaStepTimeoutSeconds
  SAGA_TIMEOUT_SCHEDULE: sagaTimeoutSchedule
  UNDERWRITING_PREMIUM_LIMIT: underwritingPremiumLimit
  MAX_ACTIVE_POLICIES: maxActivePolicies
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    name: 'func-quoting-${resourceToken}'
    planName: 'plan-${resourceToken}'
    location: location
    tags: allTags
    azdServiceName: 'api'
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    appSettings: union(appNames, wiring.ruleSettings, behaviourSettings, connectionSettings)
    pythonVersion: pythonVersion
    appLoggerName: 'quoting' // every logging.getLogger name in the app starts with it
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
  }
  // The first host start must already hold its data-plane roles.
  dependsOn: [
    cosmos
    eventHubs
  ]
}

output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = resourceGroup().name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_URL string = functionApp.outputs.url
output AZURE_CLIENT_ID string = identity.outputs.clientId
output COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output EVENTHUBS_FULLY_QUALIFIED_NAMESPACE string = eventHubs.outputs.fullyQualifiedNamespace
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
