"""How the local host reports a failure of its own bookkeeping (a lease, a checkpoint, a
heartbeat): a storage outage (a full disk, a read-only file) is one line naming the cause, as
it is expected and passes; anything else is logged with its traceback."""

from __future__ import annotations

import logging

from application.ports import TransientFailure


def log_failure(logger: logging.Logger, what: str, error: Exception) -> None:
    if isinstance(error, TransientFailure):
        logger.warning("%s failed: %s", what, error)
    else:
        logger.error("%s failed", what, exc_info=error)
