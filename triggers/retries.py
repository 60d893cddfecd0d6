"""Retry policies and the one question a trigger asks of them: is this the last attempt?"""

from __future__ import annotations

from typing import Any

# Applied with @bp.retry(**...) to the change-feed, Event Hubs and timer triggers.
# https://learn.microsoft.com/azure/azure-functions/functions-bindings-error-pages#retries
EXPONENTIAL = {
    "strategy": "exponential_backoff",
    "max_retry_count": "5",
    "minimum_interval": "00:00:02",
    "maximum_interval": "00:01:00",
}


def is_final_attempt(context: Any) -> bool:
    """True when the host will not retry this invocation again (or keeps no retry count).

    The Event Hubs and Cosmos DB triggers move their checkpoint on after the last retry, so
    whatever still fails then must be parked by the app or it is gone.
    """
    retry = getattr(context, "retry_context", None)
    if retry is None:
        return True
    return int(retry.retry_count) >= int(retry.max_retry_count)
