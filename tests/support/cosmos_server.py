"""A Cosmos DB account for tests: the npm Cosmos-protocol server on loopback, or the account in
COSMOS_ENDPOINT/COSMOS_KEY (official emulator, real account). Fixtures live in cosmos_fixtures.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import pytest

from devhost.cosmos_local import EMULATOR_KEY, CountingTransport, ServerMissing, local_server

__all__ = ["EMULATOR_KEY", "CosmosAccount", "CountingTransport", "cosmos_account"]


@dataclass
class CosmosAccount:
    """Where the tests talk to, and the transport that counts every request sent there."""

    endpoint: str
    key: str
    transport: CountingTransport = field(default_factory=CountingTransport)

    @property
    def connection_string(self) -> str:
        extra = "DisableServerCertificateValidation=True;" if _tls_unverified() else ""
        return f"AccountEndpoint={self.endpoint};AccountKey={self.key};{extra}"


@contextmanager
def local_cosmos_server(timeout: float = 15.0) -> Iterator[str]:
    """The npm server on a free loopback port (devhost/cosmos_local.py); a skip without Node."""
    stack = ExitStack()
    try:
        url = stack.enter_context(local_server(timeout))
    except ServerMissing as missing:
        pytest.skip(f"{missing} (or set COSMOS_ENDPOINT/COSMOS_KEY)")
    with stack:
        yield url


@contextmanager
def cosmos_account() -> Iterator[CosmosAccount]:
    """COSMOS_ENDPOINT + COSMOS_KEY when set, else a fresh local server for the session."""
    endpoint, key = os.environ.get("COSMOS_ENDPOINT"), os.environ.get("COSMOS_KEY")
    if endpoint and key:
        yield CosmosAccount(endpoint, key)
        return
    with local_cosmos_server() as url:
        yield CosmosAccount(url, EMULATOR_KEY)


def _tls_unverified() -> bool:
    # The official emulator serves a self-signed certificate unless it is imported.
    return os.environ.get("COSMOS_DISABLE_TLS_VERIFY", "").lower() in {"1", "true", "yes"}
