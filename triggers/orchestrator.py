"""The orchestrator: a Cosmos DB change-feed trigger on the events container."""

from __future__ import annotations

import logging

import azure.functions as func

from bootstrap import COSMOS_CONNECTION, services
from triggers.retries import EXPONENTIAL, is_final_attempt

bp = func.Blueprint()
logger = logging.getLogger("quoting.orchestrator")


@bp.function_name("orchestrate")
@bp.retry(**EXPONENTIAL)
@bp.cosmos_db_trigger(
    arg_name="documents",
    connection=COSMOS_CONNECTION,
    database_name="%COSMOS_DATABASE%",
    container_name="%EVENTS_CONTAINER%",
    lease_container_name="%LEASES_CONTAINER%",
    lease_container_prefix="orchestrator",
    # With identity-based connections the trigger cannot create it: Bicep does.
    create_lease_container_if_not_exists=False,
    # Without it, a lease created after the first appends starts at "now" and those events are
    # never delivered (e.g. quotes created before the first deployment of the orchestrator).
    # https://learn.microsoft.com/azure/azure-functions/functions-bindings-cosmosdb-v2-trigger#configuration
    start_from_beginning=True,
    # Milliseconds between polls of a drained partition (default 5000). Each change-feed hop of
    # a saga waits half of it on average when idle: 3 hops x 0.25 s instead of 3 x 2.5 s. Idle
    # cost: 2 empty reads/s per lease (estimated ~1 RU each: ~173k RU/day per lease).
    feed_poll_delay=500,
)
def orchestrate(documents: func.DocumentList, context: func.Context) -> None:
    report = services().orchestrator.process_documents(
        [document.to_dict() for document in documents], final_attempt=is_final_attempt(context)
    )
    logger.info(
        "orchestrate batch=%d processed=%d skipped=%d deadLettered=%d",
        len(documents),
        report.processed,
        report.skipped,
        report.dead_lettered,
    )
