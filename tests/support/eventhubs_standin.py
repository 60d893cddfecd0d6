"""An in-memory Event Hubs stand-in: an AMQP 1.0 server on python-qpid-proton that the unmodified
azure-eventhub SDK (tested with 5.15.1) can produce to and consume from on loopback.

Speaks: SASL ANONYMOUS; CBS put-token on `$cbs` (any token is accepted); `$management` READ of a
hub and of a partition; sends to `<hub>` (partition chosen by partition key, else round robin) or
`<hub>/Partitions/<id>`, single messages and batches (format 0x80013700); receives from
`<hub>/ConsumerGroups/<cg>/Partitions/<id>` with the selector filter for offset, sequence number
and enqueued time, delivering `x-opt-*` annotations.

Does NOT emulate: SAS signature or token checks, TLS and WebSockets, epoch (owner-level)
exclusivity, consumer-group existence or limits, retention and persistence (memory only, lost on
stop), Azure's partition-key hash (crc32 here: the same key always lands on the same partition,
but not on the one Azure would pick), throttling and quotas beyond the link's max message size,
idempotent publishing, geo-replication, the Kafka endpoint. Offsets are the sequence number as
text, not byte positions. A batch is recognised by its shape (header/annotations plus data
sections that are each a complete encoded message), because proton's Python binding does not
expose a delivery's message format.

The SDK <= 5.15.1 reads performative fields by position, so every outgoing frame is re-encoded
with its field list padded to full length (see /work/shared/notes/eventhubs-amqp.md).
"""

from __future__ import annotations

import contextlib
import itertools
import re
import selectors
import socket
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any

from proton import (
    Collector,
    Condition,
    Connection,
    Data,
    Delivery,
    Described,
    Endpoint,
    Event,
    Message,
    Transport,
    symbol,
    timestamp,
    ulong,
)

# --- frame padding (azure-eventhub <= 5.15.1 decodes performatives by position) -----------------

# descriptor code -> number of fields in the AMQP 1.0 spec (open..close, then the SASL frames)
_FIELDS = {0x10: 10, 0x11: 8, 0x12: 14, 0x13: 11, 0x14: 11, 0x15: 6, 0x16: 3, 0x17: 1, 0x18: 1}
_FIELDS |= {0x40: 1, 0x41: 3, 0x42: 1, 0x43: 1, 0x44: 2}
_FIXED = {0x4: 0, 0x5: 1, 0x6: 2, 0x7: 4, 0x8: 8, 0x9: 16}


def _skip(buf: bytes, i: int) -> int:
    """Index just past the encoded AMQP value that starts at buf[i]."""
    code, i = buf[i], i + 1
    if code == 0x00:  # described: descriptor, then value
        return _skip(buf, _skip(buf, i))
    width = code >> 4
    if width in _FIXED:
        return i + _FIXED[width]
    if width in (0xA, 0xC, 0xE):
        return i + 1 + buf[i]
    return i + 4 + int.from_bytes(buf[i : i + 4], "big")


def _pad_frame(frame: bytes) -> bytes:
    body = frame[frame[4] * 4 :]
    if not body or body[0] != 0x00:
        return frame  # heartbeat
    start = _skip(body, 1)
    code = body[2] if body[1] == 0x53 else int.from_bytes(body[2:10], "big")
    kind = body[start]
    if kind == 0x45:
        count, items, end = 0, b"", start + 1
    elif kind == 0xC0:
        count, end = body[start + 2], start + 2 + body[start + 1]
        items = body[start + 3 : end]
    else:
        size = int.from_bytes(body[start + 1 : start + 5], "big")
        count, end = int.from_bytes(body[start + 5 : start + 9], "big"), start + 5 + size
        items = body[start + 9 : end]
    full = _FIELDS.get(code, count)
    if count >= full:
        return frame
    items += b"\x40" * (full - count)
    listed = b"\xd0" + (4 + len(items)).to_bytes(4, "big") + full.to_bytes(4, "big") + items
    new_body = body[:start] + listed + body[end:]
    return (8 + len(new_body)).to_bytes(4, "big") + b"\x02" + frame[5:8] + new_body


class _FramePadder:
    """Turns proton's output byte stream into the same frames with complete field lists."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> bytes:
        self._buffer += data
        out = []
        while len(self._buffer) >= 8:
            if self._buffer.startswith(b"AMQP"):  # protocol header
                out.append(self._buffer[:8])
                self._buffer = self._buffer[8:]
                continue
            size = int.from_bytes(self._buffer[:4], "big")
            if len(self._buffer) < size:
                break
            out.append(_pad_frame(self._buffer[:size]))
            self._buffer = self._buffer[size:]
        return b"".join(out)


# --- message sections -----------------------------------------------------------------------


def _sections(raw: bytes) -> list[tuple[int, bytes, Any]]:
    """(descriptor code, encoded bytes, decoded value) of each section of an encoded message."""
    found, position = [], 0
    while position < len(raw):
        data = Data()
        used = data.decode(raw[position:])
        data.rewind()
        data.next()
        value = data.get_object()
        if not isinstance(value, Described):
            raise ValueError("not an AMQP message section")
        encoded = raw[position : position + used]
        code = int(value.descriptor)
        # proton's get_binary may point into the Data's own buffer: read data sections by hand
        found.append((code, encoded, _binary(encoded) if code == 0x75 else value.value))
        position += used
    return found


def _binary(section: bytes) -> bytes:
    """The bytes of an encoded data section (descriptor 0x75, then vbin8 or vbin32)."""
    start = _skip(section, 1)
    if section[start] == 0xA0:
        return section[start + 2 : start + 2 + section[start + 1]]
    size = int.from_bytes(section[start + 1 : start + 5], "big")
    return section[start + 5 : start + 5 + size]


def _split_batch(raw: bytes) -> list[bytes] | None:
    """The encoded messages inside a batch (format 0x80013700), or None if `raw` is no batch."""
    try:
        sections = _sections(raw)
        if any(code not in (0x70, 0x71, 0x72, 0x75) for code, _, _ in sections):
            return None
        inner = [bytes(value) for code, _, value in sections if code == 0x75]
        if not inner or not all(_sections(item) for item in inner):
            return None
        return inner
    except Exception:  # a body that does not parse as messages: a single message
        return None


def _encode_section(code: int, value: Any) -> bytes:
    data = Data()
    data.put_object(Described(ulong(code), value))
    return data.encode()


# --- storage --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredEvent:
    """One event as a partition holds it."""

    sequence_number: int
    offset: str
    enqueued_time_ms: int
    partition_key: str | None
    raw: bytes  # the encoded AMQP message as sent

    @property
    def body(self) -> bytes:
        return b"".join(bytes(v) for code, _, v in _sections(self.raw) if code == 0x75)

    @property
    def application_properties(self) -> dict[str, Any]:
        found = [v for code, _, v in _sections(self.raw) if code == 0x74]
        return {str(k): v for k, v in (found[0] if found else {}).items()}

    def delivered(self) -> bytes:
        """The message as a consumer receives it: the service's x-opt-* annotations added."""
        sections = _sections(self.raw)
        annotations: dict[Any, Any] = next((v for c, _, v in sections if c == 0x72), None) or {}
        annotations = dict(annotations)
        annotations[symbol("x-opt-sequence-number")] = self.sequence_number
        annotations[symbol("x-opt-offset")] = self.offset
        annotations[symbol("x-opt-enqueued-time")] = timestamp(self.enqueued_time_ms)
        if self.partition_key is not None:
            annotations[symbol("x-opt-partition-key")] = self.partition_key
        head = b"".join(raw for c, raw, _ in sections if c in (0x70, 0x71))
        tail = b"".join(raw for c, raw, _ in sections if c > 0x72)
        return head + _encode_section(0x72, annotations) + tail


@dataclass
class _Consumer:
    hub: str
    partition: str
    cursor: int  # index of the next event to deliver


@dataclass
class _Peer:
    """One accepted socket and its proton engine."""

    sock: socket.socket
    transport: Transport
    connection: Connection
    collector: Collector
    padder: _FramePadder = field(default_factory=_FramePadder)
    outgoing: bytearray = field(default_factory=bytearray)
    replies: dict[str, list[bytes]] = field(default_factory=dict)  # node -> queued replies
    consumers: list[tuple[Any, _Consumer]] = field(default_factory=list)


_SELECTOR = re.compile(r"x-opt-(offset|sequence-number|enqueued-time)\s*(>=|>)\s*'([^']*)'")
_SELECTOR_KEY = "apache.org:selector-filter:string"
_TAGS = itertools.count()


def _path(address: str | None) -> list[str]:
    """`amqps://host:port/hub/Partitions/0` -> ['hub', 'Partitions', '0']."""
    address = address or ""
    if "://" in address:
        address = address.split("://", 1)[1].partition("/")[2]
    return [part for part in address.split("/") if part]


class EventHubsStandIn:
    """In-memory hubs behind an AMQP listener on 127.0.0.1, served by one background thread."""

    def __init__(
        self,
        hubs: dict[str, int] | None = None,
        *,
        port: int = 0,
        max_message_size: int = 1024 * 1024,
    ) -> None:
        self.hubs = dict(hubs or {"eh1": 2})
        self.max_message_size = max_message_size
        self._lock = threading.Lock()
        self._events = {(h, str(p)): [] for h, n in self.hubs.items() for p in range(n)}
        self._sends: dict[str, int] = dict.fromkeys(self.hubs, 0)
        self._round_robin = itertools.count()
        self._created = int(time.time() * 1000)
        self._requested_port = port
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._peers: dict[socket.socket, _Peer] = {}

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> EventHubsStandIn:
        listener = socket.create_server(("127.0.0.1", self._requested_port))
        listener.setblocking(False)
        self._listener = listener
        self._thread = threading.Thread(target=self._serve, name="eventhubs-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for peer in list(self._peers.values()):
            peer.sock.close()
        self._peers.clear()
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> EventHubsStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._listener is not None, "start() the stand-in first"
        return int(self._listener.getsockname()[1])

    @property
    def connection_string(self) -> str:
        """A namespace connection string (no EntityPath) in the official emulator's form."""
        return (
            f"Endpoint=sb://127.0.0.1:{self.port};SharedAccessKeyName=RootManageSharedAccessKey;"
            "SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true"
        )

    # --- inspection (for tests, thread-safe) -----------------------------------------------

    def events(self, hub: str, partition: str | None = None) -> list[StoredEvent]:
        """Events of one partition in sequence order, or of every partition of the hub."""
        with self._lock:
            parts = [partition] if partition is not None else self.partition_ids(hub)
            return [e for p in parts for e in self._events[(hub, p)]]

    def partition_ids(self, hub: str) -> list[str]:
        return [str(p) for p in range(self.hubs[hub])]

    def partition_for(self, hub: str, partition_key: str) -> str:
        """Where a partition key lands (the same key always lands on the same partition)."""
        return str(zlib.crc32(partition_key.encode()) % self.hubs[hub])

    def receivers(self, hub: str, partition: str) -> int:
        """Consumer links currently attached to one partition (any consumer group)."""
        peers = list(self._peers.values())
        return sum(
            1
            for peer in peers
            for _, consumer in list(peer.consumers)
            if (consumer.hub, consumer.partition) == (hub, partition)
        )

    def connections(self) -> int:
        """AMQP connections accepted and not yet closed by both sides (each producer client
        holds one), so a test can see a client that was never closed."""
        return len(list(self._peers))

    def sends(self, hub: str) -> int:
        """Deliveries (one per send call of a producer, batch or single) accepted on a hub."""
        with self._lock:
            return self._sends[hub]

    # --- storage ----------------------------------------------------------------------------

    def _store(self, hub: str, partition: str | None, payload: bytes) -> None:
        batch = _split_batch(payload)
        messages = batch if batch is not None else [payload]
        key = None
        for code, _, value in _sections(payload):
            if code == 0x72 and value:
                key = value.get(symbol("x-opt-partition-key"))
        with self._lock:
            if partition is None:
                partition = (
                    self.partition_for(hub, str(key))
                    if key is not None
                    else str(next(self._round_robin) % self.hubs[hub])
                )
            stored = self._events[(hub, partition)]
            now = int(time.time() * 1000)
            for raw in messages:
                number = len(stored)
                stored.append(StoredEvent(number, str(number), now, key and str(key), raw))
            self._sends[hub] += 1

    # --- the server loop --------------------------------------------------------------------

    def _serve(self) -> None:
        assert self._listener is not None
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ)
        try:
            while not self._stopping.is_set():
                for key, _ in selector.select(timeout=0.02):
                    if key.fileobj is self._listener:
                        self._accept(selector)
                    else:
                        self._read(self._peers.get(key.fileobj))  # type: ignore[arg-type]
                for peer in list(self._peers.values()):
                    self._process(peer)
                    self._deliver(peer)
                    self._flush(peer, selector)
        finally:
            selector.close()

    def _accept(self, selector: selectors.BaseSelector) -> None:
        assert self._listener is not None
        with contextlib.suppress(BlockingIOError):
            sock, _ = self._listener.accept()
            sock.setblocking(False)
            transport = Transport(Transport.SERVER)
            transport.sasl().allowed_mechs("ANONYMOUS")
            connection, collector = Connection(), Collector()
            connection.collect(collector)
            transport.bind(connection)
            self._peers[sock] = _Peer(sock, transport, connection, collector)
            selector.register(sock, selectors.EVENT_READ)

    def _read(self, peer: _Peer | None) -> None:
        if peer is None:
            return
        try:
            data = peer.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            peer.transport.close_tail()
            return
        while data:
            room = peer.transport.capacity()
            if room <= 0:
                break  # transport closed for input: drop what it cannot take
            peer.transport.push(data[:room])
            data = data[room:]
            self._process(peer)

    def _flush(self, peer: _Peer, selector: selectors.BaseSelector) -> None:
        peer.transport.tick(time.monotonic())
        pending = peer.transport.pending()
        if pending > 0:
            peer.outgoing += peer.padder.feed(peer.transport.peek(pending) or b"")
            peer.transport.pop(pending)
        if peer.outgoing:
            try:
                sent = peer.sock.send(peer.outgoing)
                del peer.outgoing[:sent]
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                peer.outgoing.clear()
        if pending < 0 and not peer.outgoing:  # both directions done
            selector.unregister(peer.sock)
            peer.sock.close()
            del self._peers[peer.sock]

    # --- AMQP events ------------------------------------------------------------------------

    def _process(self, peer: _Peer) -> None:
        while (event := peer.collector.peek()) is not None:
            kind = event.type
            if kind == Event.CONNECTION_REMOTE_OPEN:
                peer.connection.container = "eventhubs-standin"
                # Set properties so proton sends a complete field list (see module docstring).
                peer.connection.properties = {symbol("product"): "quoting-saga stand-in"}
                peer.connection.open()
            elif kind == Event.SESSION_REMOTE_OPEN:
                event.session.open()
            elif kind == Event.LINK_REMOTE_OPEN:
                self._attach(peer, event.link)
            elif kind == Event.DELIVERY:
                self._delivery(peer, event.delivery)
            elif kind == Event.LINK_REMOTE_CLOSE:
                event.link.close()
                peer.consumers = [
                    (lk, c) for lk, c in peer.consumers if not lk.state & Endpoint.REMOTE_CLOSED
                ]
            elif kind == Event.SESSION_REMOTE_CLOSE:
                event.session.close()
            elif kind == Event.CONNECTION_REMOTE_CLOSE:
                peer.connection.close()
            peer.collector.pop()

    def _attach(self, peer: _Peer, link: Any) -> None:
        if link.state & Endpoint.LOCAL_ACTIVE:
            return
        link.source.copy(link.remote_source)
        link.target.copy(link.remote_target)
        if link.source.address is None:
            link.source.address = "standin"
        if link.target.address is None:
            link.target.address = "standin"
        link.properties = {symbol("com.microsoft:standin"): True}
        node = _path(link.remote_target.address if link.is_receiver else link.remote_source.address)
        error = None
        if link.is_receiver:
            link.max_message_size = self.max_message_size
            if node[:1] in (["$cbs"], ["$management"]):
                link.standin_node = node[0]
            elif self._valid_target(node):
                link.standin_node = "send"
                link.standin_hub, link.standin_partition = node[0], (node[2:3] or [None])[0]
            else:
                error = f"no hub or partition at {'/'.join(node)!r}"
        elif node[:1] in (["$cbs"], ["$management"]):
            link.standin_node = node[0]
            peer.replies.setdefault(node[0], [])
        elif self._valid_source(node):
            link.standin_node = "consume"
            position = self._start_position(node[0], node[4], link.remote_source.filter)
            peer.consumers.append((link, _Consumer(node[0], node[4], position)))
        else:
            error = f"no consumer group partition at {'/'.join(node)!r}"
        link.open()
        if error is not None:
            link.condition = Condition("amqp:not-found", error)
            link.close()
        elif link.is_receiver:
            link.flow(100)

    def _valid_target(self, node: list[str]) -> bool:
        if len(node) == 1:
            return node[0] in self.hubs
        return (
            len(node) == 3
            and node[0] in self.hubs
            and node[1].lower() == "partitions"
            and node[2] in self.partition_ids(node[0])
        )

    def _valid_source(self, node: list[str]) -> bool:
        return (
            len(node) == 5
            and node[0] in self.hubs
            and node[1].lower() == "consumergroups"
            and node[3].lower() == "partitions"
            and node[4] in self.partition_ids(node[0])
        )

    def _start_position(self, hub: str, partition: str, filters: Data) -> int:
        """Index of the first event to deliver, from the selector filter (default: latest)."""
        selector = "amqp.annotation.x-opt-offset > '@latest'"
        found = None
        if filters is not None:
            filters.rewind()
            if filters.next() is not None:
                found = filters.get_object()
        for key, value in (found or {}).items():
            if str(key) == _SELECTOR_KEY:
                selector = str(value.value if isinstance(value, Described) else value)
        match = _SELECTOR.search(selector)
        events = self.events(hub, partition)
        if match is None:
            return len(events)
        name, operator, text = match.groups()
        if text == "@latest":
            return len(events)
        bound = int(text)

        def attribute(event: StoredEvent) -> int:
            if name == "enqueued-time":
                return event.enqueued_time_ms
            return event.sequence_number  # offsets are the sequence number as text

        for index, event in enumerate(events):
            if attribute(event) > bound or (operator == ">=" and attribute(event) == bound):
                return index
        return len(events)

    def _delivery(self, peer: _Peer, delivery: Any) -> None:
        link = delivery.link
        if link.is_sender:
            if delivery.remote_state or delivery.settled:
                delivery.settle()
            return
        if not delivery.readable or delivery.partial:
            return
        payload = link.recv(delivery.pending) or b""
        link.advance()
        node = getattr(link, "standin_node", None)
        if node == "send":
            self._store(link.standin_hub, link.standin_partition, payload)
        elif node in ("$cbs", "$management"):
            peer.replies[node].append(self._answer(node, payload))
        delivery.update(Delivery.ACCEPTED)
        delivery.settle()
        if link.credit < 50:
            link.flow(100)

    def _answer(self, node: str, payload: bytes) -> bytes:
        request = Message()
        request.decode(payload)
        props = {str(k): v for k, v in (request.properties or {}).items()}
        status, description, body = 200, "OK", None
        if node == "$management":
            status, description, body = self._read_entity(props)
        reply = Message(
            id=str(uuid.uuid4()),
            correlation_id=request.id,
            properties={"status-code": status, "status-description": description},
            body=body,
        )
        return reply.encode()

    def _read_entity(self, props: dict[str, Any]) -> tuple[int, str, Any]:
        hub, kind = str(props.get("name")), str(props.get("type"))
        if props.get("operation") != "READ" or hub not in self.hubs:
            return 404, f"no hub {hub!r}", None
        if kind == "com.microsoft:eventhub":
            return (
                200,
                "OK",
                {
                    "name": hub,
                    "created_at": timestamp(self._created),
                    "partition_ids": self.partition_ids(hub),
                },
            )
        partition = str(props.get("partition"))
        if partition not in self.partition_ids(hub):
            return 404, f"no partition {partition!r} in {hub!r}", None
        events = self.events(hub, partition)
        last = events[-1] if events else None
        return (
            200,
            "OK",
            {
                "name": hub,
                "partition": partition,
                "begin_sequence_number": 0,
                "last_enqueued_sequence_number": last.sequence_number if last else -1,
                "last_enqueued_offset": last.offset if last else "-1",
                "last_enqueued_time_utc": timestamp(last.enqueued_time_ms if last else 0),
                "is_partition_empty": last is None,
            },
        )

    def _deliver(self, peer: _Peer) -> None:
        """Send queued CBS/management replies and new events to links with credit."""
        for link in _links(peer.connection, sender=True):
            node = getattr(link, "standin_node", None)
            queue = peer.replies.get(node) if node in ("$cbs", "$management") else None
            while queue and link.credit > 0:
                _send(link, queue.pop(0))
        for link, consumer in peer.consumers:
            if not link.state & Endpoint.LOCAL_ACTIVE or link.credit <= 0:
                continue
            events = self.events(consumer.hub, consumer.partition)
            while consumer.cursor < len(events) and link.credit > 0:
                _send(link, events[consumer.cursor].delivered())
                consumer.cursor += 1


def _links(connection: Connection, *, sender: bool) -> list[Any]:
    found, link = [], connection.link_head(Endpoint.LOCAL_ACTIVE)
    while link is not None:
        if link.is_sender == sender:
            found.append(link)
        link = link.next(Endpoint.LOCAL_ACTIVE)
    return found


def _send(link: Any, payload: bytes) -> None:
    delivery = link.delivery(str(next(_TAGS)).encode())
    link.send(payload)
    link.advance()
    delivery.settle()  # pre-settled: the SDK's receivers do not need to acknowledge
