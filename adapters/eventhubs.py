"""Event Hubs adapter: sends commands to their aggregate's hub and forwards events to saga-events.

Sync azure-eventhub client; one producer per hub per worker, created on first use, shared by the
worker's threads under one lock per hub.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from azure.eventhub import EventData, EventDataBatch, EventHubProducerClient
from azure.eventhub.exceptions import EventHubError

from application.ports import TransientFailure
from domain.errors import Unprocessable
from domain.messages import CommandEnvelope, EventEnvelope
from domain.registry import command_category, command_hubs


class EventTooLarge(Unprocessable):
    """One command or event is larger than any batch the hub accepts: it can never be sent
    (the same message is the same size on every retry), so the batch policy parks it."""


class SettingsReader(Protocol):
    def get(self, name: str) -> str | None: ...


SettingsGetter = Callable[[str], "str | None"]


# Called once per hub until close(), never by two threads at once (the publisher holds its lock).
ProducerFactory = Callable[[str], EventHubProducerClient]


class EventHubsCommandPublisher:
    """CommandPublisher over Event Hubs: one hub per target aggregate, keyed by aggregate id.

    Commands of one call go out as one batch per (hub, partition key), split when full; every
    batch is built before the first is sent, so an event too large for any batch raises before
    anything leaves. A send the SDK gives up on raises TransientFailure. Safe to share between
    threads: the Functions worker runs sync invocations on a thread pool.
    """

    # Thread safety. azure-eventhub 5.15.1 README, "Thread safety" (also in the wheel's METADATA)
    # https://github.com/Azure/azure-sdk-for-python/blob/azure-eventhub_5.15.1/sdk/eventhub/azure-eventhub/README.md#thread-safety
    #   "We do not guarantee that the EventHubProducerClient or EventHubConsumerClient are
    #   thread-safe or coroutine-safe. [...] The data model type, `EventDataBatch` is not
    #   thread-safe or coroutine-safe. It should not be shared across threads nor used
    #   concurrently with client methods. For scenarios requiring concurrent sending from
    #   multiple threads, ensure proper thread-safety management using mechanisms like
    #   threading.Lock()."
    # So every call on a producer (create_batch, send_batch, close) holds its hub's lock, and a
    # batch never leaves the publish call that built it. A lock per hub, not a producer per
    # thread: (1) it takes no parallelism the SDK gives, since EventHubProducer.send (5.15.1,
    # azure/eventhub/_producer.py) holds a lock of its own for the whole send, retries
    # included; sends to different hubs still overlap. (2) A producer per thread is an AMQP
    # connection per thread per hub: up to 32 threads (the worker's default pool, min(32,
    # cpus + 4)) x 4 hubs = 128 per instance, up to 100 Flex instances, against 5,000
    # connections per Standard namespace (100 on Basic):
    # https://learn.microsoft.com/azure/event-hubs/event-hubs-quotas. (3) Thread-local
    # producers are out of close()'s reach. On the stand-in the two designs publish equally
    # fast (docs/eventhubs.md, "Threads"). `_lock` guards the producer dict: two threads
    # must never both create a hub's producer, or the loser's AMQP connection outlives
    # close(). Lock order: hub lock, then `_lock`.

    def __init__(
        self,
        create_producer: ProducerFactory,
        *,
        hubs: Mapping[str, str],
        saga_events_hub: str,
        send_timeout: float | None = None,
    ) -> None:
        self._create_producer = create_producer
        self._hubs = dict(hubs)  # aggregate category -> its command hub
        self._saga_events_hub = saga_events_hub
        self._send_timeout = send_timeout
        self._producers: dict[str, EventHubProducerClient] = {}
        self._lock = threading.Lock()
        # Made up front for every hub `route` can name, so the lock dict itself never changes.
        every_hub = [*self._hubs.values(), saga_events_hub]
        self._hub_locks = {hub: threading.Lock() for hub in every_hub}

    @property
    def routes(self) -> Mapping[str, str]:
        """The hub each aggregate category's commands go to."""
        return dict(self._hubs)

    def publish(
        self, commands: Sequence[CommandEnvelope], events: Sequence[EventEnvelope] = ()
    ) -> None:
        groups = route(commands, events, self._hubs, self._saga_events_hub)
        batches = [
            (hub, batch)
            for (hub, key), messages in groups.items()
            for batch in self._batches(hub, key, [_message_data(m) for m in messages])
        ]
        for hub, batch in batches:
            try:
                with self._hub_locks[hub]:
                    self._producer(hub).send_batch(batch, timeout=self._send_timeout)
            except EventHubError as error:
                raise TransientFailure(f"Event Hubs send to {hub!r} failed: {error}") from error

    def close(self) -> None:
        """Close every producer this worker opened (the next publish opens them again).

        Waits for each hub's send in flight; a publish after this opens a new producer, which
        the next close() closes. A closed SDK client quietly reconnects when sent on
        (send_batch rebuilds its link: `except (KeyError, AttributeError, EventHubError)` in
        azure/eventhub/_producer_client.py), so no thread may hold on to one across close():
        every use goes through `_producer` under the hub's lock."""
        for hub, hub_lock in self._hub_locks.items():
            with hub_lock:
                with self._lock:
                    producer = self._producers.pop(hub, None)
                if producer is not None:
                    producer.close()

    def _producer(self, hub: str) -> EventHubProducerClient:
        """The hub's producer, made on first use; call it holding the hub's lock."""
        with self._lock:
            if hub not in self._producers:
                self._producers[hub] = self._create_producer(hub)
            return self._producers[hub]

    def _create_batch(self, hub: str, key: str) -> EventDataBatch:
        with self._hub_locks[hub]:
            return self._producer(hub).create_batch(partition_key=key)

    def _batches(self, hub: str, key: str, items: list[EventData]) -> list[EventDataBatch]:
        try:
            batches = [self._create_batch(hub, key)]
        except EventHubError as error:
            raise TransientFailure(f"Event Hubs producer for {hub!r} failed: {error}") from error
        for item in items:
            try:
                batches[-1].add(item)
                continue
            except ValueError:
                if len(batches[-1]) == 0:
                    raise _too_large(hub, item, batches[-1]) from None
            batches.append(self._create_batch(hub, key))
            try:
                batches[-1].add(item)
            except ValueError:
                raise _too_large(hub, item, batches[-1]) from None
        return batches


def _too_large(hub: str, item: EventData, batch: EventDataBatch) -> EventTooLarge:
    props = item.properties or {}
    name = props.get("commandType") or props.get("eventType")
    ident = props.get("commandId") or props.get("eventId")
    return EventTooLarge(
        f"{name} {ident} does not fit in an Event Hubs batch for {hub!r} "
        f"(limit {batch.max_size_in_bytes} bytes): nothing was sent"
    )


def _data(body: str, properties: dict[str, Any]) -> EventData:
    data = EventData(body)
    data.content_type = "application/json"
    data.properties = {k: v for k, v in properties.items() if v is not None}
    return data


def route(
    commands: Sequence[CommandEnvelope],
    events: Sequence[EventEnvelope],
    hubs: Mapping[str, str],
    saga_events_hub: str,
) -> dict[tuple[str, str], list[CommandEnvelope | EventEnvelope]]:
    """(hub, partition key) -> messages, in order: a command goes to its aggregate's hub
    (`hubs` by category) keyed by the aggregate id, an event to the saga-events hub keyed by
    its correlation id. Shared with the local host's SQLite hub logs."""
    groups: dict[tuple[str, str], list[CommandEnvelope | EventEnvelope]] = {}
    for command in commands:
        hub = hubs[command_category(command.commandType)]
        groups.setdefault((hub, command.aggregateId), []).append(command)
    for event in events:
        groups.setdefault((saga_events_hub, event.correlationId), []).append(event)
    return groups


def message_properties(message: CommandEnvelope | EventEnvelope) -> dict[str, Any]:
    """The application properties a command or event carries beside its JSON body."""
    if isinstance(message, CommandEnvelope):
        kind = {"commandType": message.commandType, "commandId": message.commandId}
    else:
        kind = {"eventType": message.eventType, "eventId": message.eventId}
    properties = {
        **kind,
        "correlationId": message.correlationId,
        "causationId": message.causationId,
        "traceparent": message.traceparent,
        "schemaVersion": message.schemaVersion,
    }
    return {k: v for k, v in properties.items() if v is not None}


def _message_data(message: CommandEnvelope | EventEnvelope) -> EventData:
    return _data(message.model_dump_json(), message_properties(message))


def _default_azure_credential(**options: Any) -> Any:
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(**options)


def create_eventhubs_publisher(
    settings: SettingsGetter | SettingsReader,
    *,
    connection: str | None = None,
    retry_total: int = 3,
    retry_backoff_factor: float = 0.8,
    retry_backoff_max: float = 120,
    send_timeout: float | None = None,
    socket_timeout: float | None = None,
    credential_factory: Callable[..., Any] | None = None,
) -> EventHubsCommandPublisher:
    """A publisher from settings (a getter such as `Settings.get`, or a mapping).

    Managed identity when `<connection>__fullyQualifiedNamespace` is set, else the connection
    string in `<connection>` (e.g. the emulator's). No client is created until the first
    publish. `credential_factory` defaults to DefaultAzureCredential.
    """
    from bootstrap import DEFAULTS, EVENTHUBS_CONNECTION

    get: SettingsGetter = settings if callable(settings) else settings.get
    prefix = connection or EVENTHUBS_CONNECTION

    def setting(name: str) -> str | None:
        return get(name) or DEFAULTS.get(name)

    namespace = get(f"{prefix}__fullyQualifiedNamespace")
    connection_string = get(prefix)
    if not namespace and not connection_string:
        raise ValueError(
            f"Event Hubs is not configured: set {prefix}__fullyQualifiedNamespace (managed "
            f"identity) or {prefix} (a connection string, e.g. the emulator's)"
        )
    options: dict[str, Any] = {
        "retry_total": retry_total,
        "retry_backoff_factor": retry_backoff_factor,
        "retry_backoff_max": retry_backoff_max,
    }
    if socket_timeout is not None:
        options["socket_timeout"] = socket_timeout

    credentials: list[Any] = []  # one credential for all hubs, made with the first producer

    def create_producer(hub: str) -> EventHubProducerClient:
        if namespace:
            if not credentials:
                client_id = get(f"{prefix}__clientId")
                make = credential_factory or _default_azure_credential
                credentials.append(
                    make(**({"managed_identity_client_id": client_id} if client_id else {}))
                )
            return EventHubProducerClient(namespace, hub, credentials[0], **options)
        assert connection_string is not None
        return EventHubProducerClient.from_connection_string(
            connection_string, eventhub_name=hub, **options
        )

    return EventHubsCommandPublisher(
        create_producer,
        hubs=command_hubs(lambda name: setting(name) or ""),
        saga_events_hub=setting("SAGA_EVENTS_HUB") or "",
        send_timeout=send_timeout,
    )
