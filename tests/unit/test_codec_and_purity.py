"""Stored names and versions, the upcaster chain, and the purity of domain/."""

import ast
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from domain import codec
from domain.messages import EventEnvelope, QuoteCreated, document_id

pytestmark = pytest.mark.unit

DOMAIN = Path(__file__).resolve().parents[2] / "domain"


def stored(event_type: str, version: int, data: dict) -> EventEnvelope:
    return EventEnvelope(
        id=document_id("quote-Q1", 1),
        streamId="quote-Q1",
        sequenceNumber=1,
        eventId="e1",
        eventType=event_type,
        schemaVersion=version,
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        correlationId="Q1",
        causationId="c1",
        data=data,
    )


def test_a_version_1_quote_created_is_upcast_to_the_current_model():
    old = stored("QuoteCreated", 1, {"quote": "Q1", "customer": "C1", "amount": 250.0})
    assert codec.decode(old) == QuoteCreated(quoteId="Q1", customerId="C1", premium=250.0)


def test_events_are_written_at_their_current_schema_version():
    name, version, data = codec.encode(QuoteCreated(quoteId="Q1", customerId="C1", premium=1))
    assert (name, version) == ("QuoteCreated", 3)
    assert codec.decode(stored(name, version, data)) == QuoteCreated(
        quoteId="Q1", customerId="C1", premium=1
    )


def test_an_unknown_event_type_is_refused_by_name():
    with pytest.raises(codec.UnknownEventType, match="PolicyRenewed"):
        codec.decode(stored("PolicyRenewed", 1, {}))


def test_a_schema_version_newer_than_the_code_is_refused():
    with pytest.raises(codec.UnknownEventType, match="newer"):
        codec.decode(stored("QuoteApproved", 3, {}))


def test_every_upcaster_chain_reaches_the_current_version():
    for (event_type, version), _ in codec.UPCASTERS.items():
        assert version < codec.EVENT_TYPES[event_type][1]


# `make mutation` tests a copy of domain/ in which mutmut imports its trampoline into every
# module; nothing else outside the standard library and pydantic is let through.
MUTMUT_TRAMPOLINE = "mutmut.mutation.trampoline"


def test_domain_imports_only_the_standard_library_pydantic_and_itself():
    allowed = set(sys.stdlib_module_names) | {"pydantic", "domain", "__future__"}
    for path in DOMAIN.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module != MUTMUT_TRAMPOLINE:
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert roots <= allowed, f"{path.name} imports {roots - allowed}"


def test_domain_reads_no_clock_environment_or_randomness():
    forbidden = {"os", "random", "time", "secrets", "socket", "sqlite3", "subprocess"}
    banned_calls = {"now", "utcnow", "today", "uuid4", "uuid1"}
    for path in DOMAIN.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = (
                    {a.name.split(".")[0] for a in node.names}
                    if isinstance(node, ast.Import)
                    else {(node.module or "").split(".")[0]}
                )
                assert not names & forbidden, f"{path.name} imports {names & forbidden}"
            if isinstance(node, ast.Attribute) and node.attr in banned_calls:
                pytest.fail(f"{path.name} calls {node.attr}")
