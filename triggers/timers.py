"""Step time-outs: a timer finds sagas whose step deadline passed and compensates them."""

from __future__ import annotations

import logging

import azure.functions as func

from bootstrap import services
from triggers.retries import EXPONENTIAL

bp = func.Blueprint()
logger = logging.getLogger("quoting.timeouts")


@bp.function_name("expire_stuck_sagas")
@bp.retry(**EXPONENTIAL)
@bp.timer_trigger(arg_name="timer", schedule="%SAGA_TIMEOUT_SCHEDULE%", use_monitor=True)
def expire_stuck_sagas(timer: func.TimerRequest) -> None:
    app = services()
    expired = app.orchestrator.expire(app.clock())
    if expired or timer.past_due:
        logger.info("expire_stuck_sagas expired=%d pastDue=%s", expired, timer.past_due)
