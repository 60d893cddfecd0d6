// The Function App on the Flex Consumption plan (Linux, Python), running as the
// user-assigned identity. Flex takes the runtime and scale settings from `functionAppConfig`,
// not from app settings (FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION are not set).
// https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan

@description('Name of the Function App.')
param name string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Azure region.')
param location string

@description('Tags for the resources (the app also gets azd-service-name).')
param tags object = {}

@description('Service name in azure.yaml, used by azd to find the app.')
param azdServiceName string = 'api'

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Client id of the user-assigned identity.')
param identityClientId string

@description('Name of the host storage account.')
param storageAccountName string

@description('URL of the blob container that holds the deployment package.')
param deploymentContainerUrl string

@description('Name of the Application Insights component.')
param applicationInsightsName string

@description('App settings of the app itself (names the code reads); host settings are added here.')
param appSettings object

// Flex Consumption offers Python 3.10-3.13; 3.10 reached end of support on 2026-10-30, so the
// app allows 3.11 (to 2027-10-30), 3.12 (2028-10-30) and 3.13 (2029-10-30), the versions and
// dates the Flex stack API reports (Get-AzFunctionAppFlexConsumptionRuntime -Location <region>
// -Runtime Python lists a region's). main.bicep picks the default.
// https://learn.microsoft.com/powershell/module/az.functions/get-azfunctionappflexconsumptionruntime
// https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan#supported-language-stack-versions
@description('Root logger of the app code; the Python worker exports that subtree to Application Insights.')
param appLoggerName string

@description('Python version of the Flex Consumption runtime.')
@allowed(['3.11', '3.12', '3.13'])
param pythonVersion string

@description('Upper bound on instances the plan scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Memory per instance.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// Host storage and telemetry through the identity: no AzureWebJobsStorage connection string, and
// the Application Insights connection string only locates the ingestion endpoint (local auth
// is disabled on the component, so the token from the authentication string is required).
//
// OpenTelemetry as the Functions guidance has it for Python: host.json sets "telemetryMode":
// "OpenTelemetry" for the host; PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true makes the
// Python worker itself call configure_azure_monitor at start (so the app must not call it
// again) and tells the host the worker streams its own logs, so the host does not duplicate
// them. https://learn.microsoft.com/azure/azure-functions/opentelemetry-howto?pivots=programming-language-python
// The worker passes the connection string and PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME (default:
// the root logger, which would also collect the SDKs' and the exporter's own records) and no
// credential: the exporter builds ManagedIdentityCredential(client_id) from the authentication
// string (azure-monitor-opentelemetry-exporter, export/_base.py _get_authentication_credential).
// https://github.com/Azure/azure-functions-python-worker (otel.py initialize_azure_monitor)
var hostSettings = {
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY: 'true'
  PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME: appLoggerName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: Flex zone redundancy is a regional opt-in (properties.zoneRedundant); left off, enable it where the region supports it
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

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: The HTTP API is public by design (function and admin keys guard it)
  // checkov:skip=CKV_AZURE_17: Client certificates are not used; HTTP functions use function/admin keys
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales to zero by design; always-ready instances are a cost decision
  // checkov:skip=CKV_AZURE_213: Health check (siteConfig.healthCheckPath) is not available on Flex Consumption
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': azdServiceName })
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
    clientAffinityEnabled: false
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
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
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov:skip=CKV_AZURE_13: checkov reads this appsettings resource as web config; Easy Auth is not used, function/admin keys guard HTTP
  // checkov:skip=CKV_AZURE_63: Misread as web config: HTTP logging is an App Service web-config option; telemetry goes to Application Insights
  // checkov:skip=CKV_AZURE_65: Misread as web config (detailed error pages); see CKV_AZURE_63
  // checkov:skip=CKV_AZURE_66: Misread as web config (failed request tracing); see CKV_AZURE_63
  // checkov:skip=CKV_AZURE_80: Misread as web config: no .NET here (Python)
  // checkov:skip=CKV_AZURE_88: Misread as web config: Flex Consumption uses no Azure Files content share
  // checkov:skip=CKV_AZURE_222: Misread as web config; see the site resource
  parent: site
  name: 'appsettings'
  properties: union(appSettings, hostSettings)
}

// No basic-auth publishing: `func azure functionapp publish` and `azd deploy` use an Entra token.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = site.name
output defaultHostName string = site.properties.defaultHostName
output url string = 'https://${site.properties.defaultHostName}'
