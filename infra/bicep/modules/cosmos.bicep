// Cosmos DB for NoSQL: the event store (`events` and the saga's `sagas`, partitioned by stream), the
// change-feed leases,
// the read-model views and the dead letters. Key auth is disabled: the app identity gets the
// built-in data-plane role through a Cosmos SQL role assignment (not Azure RBAC).
// https://learn.microsoft.com/azure/cosmos-db/how-to-setup-rbac

@description('Name of the Cosmos DB account.')
param accountName string

@description('Azure region.')
param location string

@description('Tags for the resources.')
param tags object = {}

@description('Serverless (pay per request) when true; provisioned autoscale throughput otherwise.')
param serverless bool = true

@description('Autoscale maximum RU/s shared by the database containers (provisioned mode only).')
@minValue(1000)
param autoscaleMaxThroughput int = 1000

@description('Database name (app setting COSMOS_DATABASE).')
param databaseName string

@description('Event store containers, partitioned by /streamId: the aggregates\' events, whose change feed triggers the orchestrator (EVENTS_CONTAINER), and the saga\'s own streams (SAGAS_CONTAINER).')
param streamContainerNames array

@description('Read-model views, partitioned by /id, with their own indexing policy (app setting VIEWS_CONTAINER).')
param viewsContainerName string

@description('Other containers partitioned by /id, on the default indexing policy: leases, dead letters.')
param idPartitionedContainerNames array

@description('Principal id of the app identity.')
param appPrincipalId string

// Cosmos DB Built-in Data Contributor (data plane). Scoped to the account: the SDK and the
// trigger read account metadata at account level, and the account holds only this database.
var dataContributorRoleDefinitionId = '00000000-0000-0000-0000-000000000002'

// Written by the Cosmos engineer next to the adapter that depends on it.
var eventsIndexingPolicy = loadJsonContent('../../cosmos/indexing-policy.json')
// A redelivered command collides on its first event's `commandKey` (adapters/cosmos.py). A
// unique key policy is fixed when a container is created: an existing events container without
// it needs a new one (docs/cosmos.md, "Receipts folded into the events").
// https://learn.microsoft.com/azure/cosmos-db/unique-keys
var eventsUniqueKeyPolicy = loadJsonContent('../../cosmos/unique-key-policy.json')
// The composite index GET /api/sagas sorts by: an ORDER BY on two paths needs one.
var viewsIndexingPolicy = loadJsonContent('../../cosmos/views-indexing-policy.json')

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  // checkov:skip=CKV_AZURE_99: No VNet in this deployment: the Flex app reaches Cosmos over the public endpoint; keys are disabled, so every request needs an Entra token and a Cosmos SQL role
  // checkov:skip=CKV_AZURE_101: Same reason as CKV_AZURE_99
  name: accountName
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    capabilities: serverless ? [{ name: 'EnableServerless' }] : []
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
    // Serverless accounts reject throughput settings; provisioned ones share autoscale RU/s.
    options: serverless ? {} : { autoscaleSettings: { maxThroughput: autoscaleMaxThroughput } }
  }
}

resource streamContainers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = [for containerName in streamContainerNames: {
  parent: database
  name: containerName
  properties: {
    resource: {
      id: containerName
      partitionKey: {
        paths: ['/streamId']
        kind: 'Hash'
        version: 2
      }
      indexingPolicy: eventsIndexingPolicy
      uniqueKeyPolicy: eventsUniqueKeyPolicy
    }
  }
}]

resource viewsContainer 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: viewsContainerName
  properties: {
    resource: {
      id: viewsContainerName
      partitionKey: {
        paths: ['/id']
        kind: 'Hash'
        version: 2
      }
      indexingPolicy: viewsIndexingPolicy
    }
  }
}

resource idContainers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = [for containerName in idPartitionedContainerNames: {
  parent: database
  name: containerName
  properties: {
    resource: {
      id: containerName
      partitionKey: {
        paths: ['/id']
        kind: 'Hash'
        version: 2
      }
    }
  }
}]

resource dataContributor 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = {
  parent: account
  name: guid(account.id, appPrincipalId, dataContributorRoleDefinitionId)
  properties: {
    roleDefinitionId: '${account.id}/sqlRoleDefinitions/${dataContributorRoleDefinitionId}'
    principalId: appPrincipalId
    scope: account.id
  }
}

output accountName string = account.name
output endpoint string = account.properties.documentEndpoint
