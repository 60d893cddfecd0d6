"""One Event Hubs trigger per registered aggregate's command hub, each with its own consumer
group: `handle_<category>_commands` (domain/registry.py lists the aggregates)."""

from __future__ import annotations

import logging
import typing
from collections.abc import Callable

import azure.functions as func

from bootstrap import EVENTHUBS_CONNECTION, services
from domain.aggregate import AnyAggregate
from domain.messages import StreamCategory
from domain.registry import AGGREGATES
from triggers.retries import EXPONENTIAL, is_final_attempt

bp = func.Blueprint()
logger = logging.getLogger("quoting.commands")

# typing.List, not list[...]: the Python worker's indexer (its vendored typing_inspect) does not
# know PEP 585 generics and refuses `list[func.EventHubEvent]` as a "non-type annotation", and
# one function that fails to index stops the whole app from loading. Kept honest by
# tests/functions/test_worker_indexing.py, which indexes the app with the worker's own code.
Events = typing.List[func.EventHubEvent]  # noqa: UP006
Handler = Callable[[Events, func.Context], None]


def function_name(category: StreamCategory) -> str:
    return f"handle_{category}_commands"


def _command_trigger(aggregate: AnyAggregate) -> Handler:
    category = aggregate.category

    @bp.function_name(function_name(category))
    @bp.retry(**EXPONENTIAL)
    @bp.event_hub_message_trigger(
        arg_name="events",
        connection=EVENTHUBS_CONNECTION,
        event_hub_name=f"%{aggregate.hub_setting}%",
        consumer_group=f"%{aggregate.consumer_group_setting}%",
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


# The decorated functions by category; each is also a module attribute of its function name,
# as a hand-written `handle_quote_commands = ...` would be.
TRIGGERS = {aggregate.category: _command_trigger(aggregate) for aggregate in AGGREGATES}
globals().update({function_name(category): trigger for category, trigger in TRIGGERS.items()})
