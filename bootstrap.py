"""The composition root: the only reader of the environment. Builds settings and, lazily, one
set of adapters per worker process (SDK clients are never created at import time)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

# Identity-based connection prefixes, shared by the Functions bindings and our SDK clients:
# `CosmosDb__accountEndpoint` / `EventHubs__fullyQualifiedNamespace` in Azure (managed identity),
# or a plain connection string in `CosmosDb` / `EventHubs` for the emulators.
# https://learn.microsoft.com/azure/azure-functions/functions-reference#connections
COSMOS_CONNECTION = "CosmosDb"
EVENTHUBS_CONNECTION = "EventHubs"

# Every setting the app reads, with its default. Bindings refer to names via %NAME%.
DEFAULTS: dict[str, str] = {
    "STORE_BACKEND": "cosmos",  # cosmos | sqlite | memory
    "PUBLISHER_BACKEND": "eventhubs",  # eventhubs | sqlite-log | memory
    "COSMOS_DATABASE": "quoting",
    "EVENTS_CONTAINER": "events",
    "LEASES_CONTAINER": "leases",
    "VIEWS_CONTAINER": "views",
    "DEADLETTERS_CONTAINER": "deadletters",
    "QUOTE_COMMANDS_HUB": "quote-commands",
    "POLICY_COMMANDS_HUB": "policy-commands",
    "CUSTOMER_COMMANDS_HUB": "customer-commands",
    "SAGA_EVENTS_HUB": "saga-events",
    "QUOTE_CONSUMER_GROUP": "quote-handler",
    "POLICY_CONSUMER_GROUP": "policy-handler",
    "CUSTOMER_CONSUMER_GROUP": "customer-handler",
    "SAGA_STEP_TIMEOUT_SECONDS": "300",
    "SAGA_TIMEOUT_SCHEDULE": "0 */1 * * * *",
    "UNDERWRITING_PREMIUM_LIMIT": "1000000",
    "MAX_ACTIVE_POLICIES": "5",
    "SQLITE_DIR": ".devhost",
}


@dataclass(frozen=True)
class Settings:
    values: Mapping[str, str]

    def __getitem__(self, name: str) -> str:
        return self.values.get(name) or DEFAULTS[name]

    def get(self, name: str) -> str | None:
        return self.values.get(name) or DEFAULTS.get(name)

    @classmethod
    def from_environment(cls) -> Settings:
        return cls(dict(os.environ))
