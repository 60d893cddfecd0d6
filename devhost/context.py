"""A minimal func.Context for the local host: invocation id, function name, trace context and
the retry context the app reads to know whether this is the last attempt."""

from __future__ import annotations

import threading
import uuid

import azure.functions as func
from azure.functions import _abc


class RetryContext(_abc.RetryContext):
    def __init__(self, retry_count: int, max_retry_count: int) -> None:
        self._retry_count, self._max_retry_count = retry_count, max_retry_count

    @property
    def retry_count(self) -> int:
        return self._retry_count

    @property
    def max_retry_count(self) -> int:
        return self._max_retry_count

    @property
    def exception(self) -> _abc.RpcException:  # type: ignore[override]
        raise AttributeError("the local host keeps no RpcException")


class TraceContext(_abc.TraceContext):
    def __init__(self, trace_parent: str = "", trace_state: str = "") -> None:
        self._trace_parent, self._trace_state = trace_parent, trace_state

    @property
    def trace_parent(self) -> str:
        return self._trace_parent

    @property
    def trace_state(self) -> str:
        return self._trace_state

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class Context(func.Context):
    _storage = threading.local

    def __init__(
        self,
        function_name: str,
        retry_count: int = 0,
        max_retry_count: int = 0,
        trace_parent: str = "",
        invocation_id: str | None = None,
    ) -> None:
        self._function_name = function_name
        self._invocation_id = invocation_id or str(uuid.uuid4())
        self._retry = RetryContext(retry_count, max_retry_count)
        self._trace = TraceContext(trace_parent)

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> type[threading.local]:
        return self._storage

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return "."

    @property
    def trace_context(self) -> _abc.TraceContext:
        return self._trace

    @property
    def retry_context(self) -> _abc.RetryContext:
        return self._retry
