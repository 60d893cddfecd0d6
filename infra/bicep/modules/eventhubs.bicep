// Event Hubs: the command transport. One hub per command stream plus saga-events, one consumer
// group per consuming function, SAS (local) auth disabled. Roles are scoped to single hubs:
// Data Sender on every hub the app publishes to, Data Receiver only on the hubs it consumes.
// https://learn.microsoft.com/azure/event-hubs/authenticate-application

@description('Name of the Event Hubs namespace.')
param namespaceName string

@description('Azure region.')
param location string

@description('Tags for the resources.')
param tags object = {}

@description('Hubs to create.')
param hubNames array

@description('Partitions per hub (fixed after creation on Standard).')
@minValue(1)
@maxValue(32)
param partitionCount int = 2

@description('Days an event is kept (Standard: 1-7).')
@minValue(1)
@maxValue(7)
param messageRetentionInDays int = 1

@description('Hubs the app publishes to: Azure Event Hubs Data Sender on each.')
param senderHubNames array

@description('Consumers as { hub, consumerGroup }: a consumer group and Azure Event Hubs Data Receiver on each hub.')
param consumers array

@description('Consumer groups for readers outside the app, as { hub, consumerGroup }: no role for the app identity.')
param subscriberGroups array = []

@description('Principal id of the app identity.')
param appPrincipalId string

var dataSenderRoleId = '2b629674-e913-4c01-ae53-ef4638d8f975'
var dataReceiverRoleId = 'a638d3c7-ab3a-418d-83e6-5f17a39d4fde'

resource namespace 'Microsoft.EventHub/namespaces@2024-01-01' = {
  name: namespaceName
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
    capacity: 1
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
    isAutoInflateEnabled: false
  }
}

resource hubs 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' = [for hubName in hubNames: {
  parent: namespace
  name: hubName
  properties: {
    partitionCount: partitionCount
    messageRetentionInDays: messageRetentionInDays
  }
}]

resource senderHubs 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' existing = [for hubName in senderHubNames: {
  parent: namespace
  name: hubName
}]

resource consumedHubs 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' existing = [for consumer in consumers: {
  parent: namespace
  name: consumer.hub
}]

resource consumerGroups 'Microsoft.EventHub/namespaces/eventhubs/consumergroups@2024-01-01' = [for (consumer, i) in consumers: {
  parent: consumedHubs[i]
  name: consumer.consumerGroup
  dependsOn: [
    hubs
  ]
}]

resource subscribedHubs 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' existing = [for subscriber in subscriberGroups: {
  parent: namespace
  name: subscriber.hub
}]

// Outside readers get their own group rather than sharing $Default.
resource subscriberConsumerGroups 'Microsoft.EventHub/namespaces/eventhubs/consumergroups@2024-01-01' = [for (subscriber, i) in subscriberGroups: {
  parent: subscribedHubs[i]
  name: subscriber.consumerGroup
  dependsOn: [
    hubs
  ]
}]

resource senderRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (hubName, i) in senderHubNames: {
  name: guid(senderHubs[i].id, appPrincipalId, dataSenderRoleId)
  scope: senderHubs[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataSenderRoleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
  dependsOn: [
    hubs
  ]
}]

resource receiverRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (consumer, i) in consumers: {
  name: guid(consumedHubs[i].id, appPrincipalId, dataReceiverRoleId)
  scope: consumedHubs[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataReceiverRoleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
  dependsOn: [
    hubs
  ]
}]

output namespaceName string = namespace.name
// EventHubs__fullyQualifiedNamespace wants the bare host name; the endpoint reads
// `https://<name>.servicebus.windows.net:443/` (the suffix differs in sovereign clouds).
output fullyQualifiedNamespace string = replace(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':443/', '')
