"""One Event Hubs trigger per aggregate's command hub, each with its own consumer group."""

from __future__ import annotations

import logging
from collections.abc import Callable

import azure.functions as func

from bootstrap import EVENTHUBS_CONNECTION, services
from domain.messages import StreamCategory
from triggers.retries import EXPONENTIAL, is_final_attempt

bp = func.Blueprint()
logger = logging.getLogger("quoting.commands")

Handler = Callable[[list[func.EventHubEvent], func.Context], None]


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
    def handle(events: list[func.EventHubEvent], context: func.Context) -> None:
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
