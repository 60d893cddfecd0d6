"""One Event Hubs trigger per aggregate's command hub, each with its own consumer group."""

from __future__ import annotations

import logging
import typing
from collections.abc import Callable

import azure.functions as func

from bootstrap import EVENTHUBS_CONNECTION, services
from domain.messages import StreamCategory
from triggers.retries import EXPONENTIAL, is_final_attempt

bp = func.Blueprint()
logger = logging.getLogger("quoting.commands")

# typing.List, not list[...]: the Python worker's indexer (its vendored typing_inspect) does not
# know PEP 585 generics and refuses `list[func.EventHubEvent]` as a "non-type annotation", and
# one function that fails to index stops the whole app from loading. Kept honest by
# tests/functions/test_worker_indexing.py, which indexes the app with the worker's own code.
Events = typing.List[func.EventHubEvent]  # noqa: UP006
Handler = Callable[[Events, func.Context], None]


def _command_trigger(category: StreamCategory) -> Handler:
    prefix = category.upper()

    @bp.function_name(f"handle_{category}_commands")
    @bp.retry(**EXPONENTIAL)
    @bp.event_hub_message_trigger(
        arg_name="events",
        connection=EVENTHUBS_CONNECTION,
        event_hub_name=f"%{prefix}_COMMANDS_HUB%",
        consumer_group=f"%{prefix}_CONSUMER_GROUP%",
        cardinality=func.Cardinality.MANY,
    )
    def handle(events: Events, context: func.Context) -> None:
        report = (
            services()
            .inbox(category)
            .receive(
                [event.get_body() for event in events], final_attempt=is_final_attempt(context)
            )
        )
        logger.info(
            "handle_%s_commands batch=%d processed=%d deadLettered=%d",
            category,
            len(events),
            report.processed,
            report.dead_lettered,
        )

    return handle


handle_quote_commands = _command_trigger("quote")
handle_policy_commands = _command_trigger("policy")
handle_customer_commands = _command_trigger("customer")
