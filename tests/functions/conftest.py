"""Fixtures for calling the real Functions entry points without the host."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import bootstrap
from bootstrap import Services, Settings, build_adapters
from tests.support.world import FakeClock

MEMORY = {"STORE_BACKEND": "memory", "PUBLISHER_BACKEND": "memory"}


@pytest.fixture
def app_services() -> Iterator[Services]:
    """This test's worker services over in-memory adapters and a fake clock."""
    settings = Settings(MEMORY)
    services = Services(settings, build_adapters(settings), clock=FakeClock())
    previous = bootstrap.install(services)
    yield services
    bootstrap.install(previous)


@pytest.fixture(scope="session")
def functions():
    """Every function of the app by name, from one call of app.get_functions()."""
    from function_app import app

    return {f.get_function_name(): f for f in app.get_functions()}


class RetryContext:
    def __init__(self, retry_count: int, max_retry_count: int) -> None:
        self.retry_count, self.max_retry_count, self.exception = retry_count, max_retry_count, None


class InvocationContext:
    """The attributes of func.Context the app reads, for a given retry attempt."""

    def __init__(self, function_name: str = "test", retry_count: int = 0, max_retries: int = 5):
        self.function_name = function_name
        self.invocation_id = f"{function_name}-{retry_count}"
        self.retry_context = RetryContext(retry_count, max_retries)
        self.trace_context = None
        self.function_directory = "."
        self.thread_local_storage = None


@pytest.fixture
def first_attempt() -> InvocationContext:
    return InvocationContext(retry_count=0)


@pytest.fixture
def last_attempt() -> InvocationContext:
    return InvocationContext(retry_count=5)
