"""Handling commands over an event store: idempotency, the version-checked state cache, and
bounded retries under contention."""

import pytest

from adapters.memory import InMemoryEventStore
from application.commands import CommandHandler
from application.ports import ConcurrencyConflict, Outcome
from domain.errors import DomainError, Unprocessable
from domain.messages import ApproveQuote, CreateQuote, RejectQuote
from domain.registry import CUSTOMER, make_command
from tests.support.builders import ACCEPTED_PREMIUM
from tests.support.world import FakeClock

pytestmark = pytest.mark.unit


class CountingStore:
    """Wraps a store and counts the calls a handler makes to it."""

    def __init__(self, inner) -> None:
        self.inner, self.reads, self.appends = inner, 0, 0

    def read_stream(self, stream_id, after=0):
        self.reads += 1
        return self.inner.read_stream(stream_id, after)

    def append(self, stream_id, expected_version, events, command_id):
        self.appends += 1
        return self.inner.append(stream_id, expected_version, events, command_id)


def command(payload, command_id: str):
    return make_command(
        payload,
        command_id=command_id,
        correlation_id="Q1",
        causation_id="test",
        issued_at=FakeClock()(),
    )


create = command(CreateQuote(quoteId="Q1", customerId="C1", premium=ACCEPTED_PREMIUM), "create-1")
approve = command(ApproveQuote(quoteId="Q1"), "approve-1")
reject = command(RejectQuote(quoteId="Q1", reason="test"), "reject-1")


def test_a_command_appends_its_events_with_ids_and_metadata_derived_from_it():
    store = InMemoryEventStore()
    decision = CommandHandler(store, FakeClock()).handle(create)
    assert decision.outcome is Outcome.APPENDED
    [event] = store.read_stream("quote-Q1")
    assert (event.eventType, event.sequenceNumber, event.causationId) == (
        "QuoteCreated",
        1,
        "create-1",
    )
    assert event.correlationId == "Q1"


def test_a_redelivered_command_whose_decision_would_append_again_appends_nothing():
    from application.commands import Rules
    from domain.customer import CustomerRules
    from domain.messages import UpdateCustomerPolicyCount

    store, rules = (
        InMemoryEventStore(),
        Rules().with_rules(CUSTOMER, CustomerRules(max_active_policies=0)),
    )
    update = make_command(
        UpdateCustomerPolicyCount(customerId="C1", policyId="P1", quoteId="Q1"),
        command_id="update-1",
        correlation_id="Q1",
        causation_id="test",
        issued_at=FakeClock()(),
    )
    assert CommandHandler(store, FakeClock(), rules).handle(update).outcome is Outcome.APPENDED
    # Refused again on redelivery (the state still says "at the limit"): without the
    # store's receipt for update-1, a second CustomerPolicyCountUpdateFailed would land.
    again = CommandHandler(store, FakeClock(), rules).handle(update)
    assert again.outcome is Outcome.ALREADY_HANDLED
    assert [e.eventType for e in store.read_stream("customer-C1")] == [
        "CustomerPolicyCountUpdateFailed"
    ]


@pytest.mark.parametrize("warm", [True, False])
def test_a_command_handled_before_and_refused_now_is_already_handled(warm):
    """A retried approval after the quote was rejected: the same command, answered as the
    duplicate it is; another approval of the rejected quote is refused."""
    store = InMemoryEventStore()
    handler = CommandHandler(store, FakeClock())
    for done in (create, approve, reject):
        handler.handle(done)
    retrying = handler if warm else CommandHandler(store, FakeClock())
    again = retrying.handle(approve)
    assert (again.outcome, again.version) == (Outcome.ALREADY_HANDLED, 3)
    assert again.state.status == "Rejected"
    with pytest.raises(DomainError, match="was rejected"):
        retrying.handle(command(ApproveQuote(quoteId="Q1"), "approve-2"))
    assert len(store.read_stream("quote-Q1")) == 3


def test_a_warm_cache_decides_without_reading():
    store = CountingStore(InMemoryEventStore())
    handler = CommandHandler(store, FakeClock())
    handler.handle(create)
    reads = store.reads
    handler.handle(approve)
    assert store.reads == reads  # the state after create was cached at its version
    assert store.appends == 2


def test_a_cold_cache_reads_once_then_appends():
    inner = InMemoryEventStore()
    CommandHandler(inner, FakeClock()).handle(create)
    store = CountingStore(inner)
    CommandHandler(store, FakeClock()).handle(approve)
    assert (store.reads, store.appends) == (1, 1)


def test_a_command_that_opens_a_stream_is_appended_on_a_cold_worker_without_a_read():
    store = CountingStore(InMemoryEventStore())
    decision = CommandHandler(store, FakeClock()).handle(create)
    assert (decision.outcome, decision.version) == (Outcome.APPENDED, 1)
    assert (store.reads, store.appends) == (0, 1)


def test_a_command_that_opens_a_stream_which_exists_falls_back_to_reading_it():
    inner = InMemoryEventStore()
    CommandHandler(inner, FakeClock()).handle(create)
    store = CountingStore(inner)
    same = CreateQuote(quoteId="Q1", customerId="C1", premium=ACCEPTED_PREMIUM)
    other_terms = CreateQuote(quoteId="Q1", customerId="C2", premium=ACCEPTED_PREMIUM)
    with pytest.raises(DomainError, match="exists with other terms"):
        CommandHandler(store, FakeClock()).handle(command(other_terms, "create-2"))
    same_terms = CommandHandler(store, FakeClock()).handle(command(same, "create-3"))
    assert (same_terms.outcome, same_terms.version) == (Outcome.UNCHANGED, 1)
    assert (store.reads, store.appends) == (2, 2)  # each: the refused blind append, one read
    assert [e.eventType for e in inner.read_stream("quote-Q1")] == ["QuoteCreated"]


def test_a_command_that_opens_a_stream_this_worker_knows_is_decided_on_what_it_knows():
    store = CountingStore(InMemoryEventStore())
    handler = CommandHandler(store, FakeClock())
    handler.handle(create)
    other_terms = CreateQuote(quoteId="Q1", customerId="C2", premium=ACCEPTED_PREMIUM)
    with pytest.raises(DomainError, match="exists with other terms"):
        handler.handle(command(other_terms, "create-2"))
    assert (store.reads, store.appends) == (1, 1)  # refused on the cached quote, then one read


def test_a_redelivered_command_that_opened_its_stream_is_already_handled_on_a_cold_worker():
    inner = InMemoryEventStore()
    CommandHandler(inner, FakeClock()).handle(create)
    again = CommandHandler(inner, FakeClock()).handle(create)
    assert (again.outcome, again.version) == (Outcome.ALREADY_HANDLED, 1)
    assert len(inner.read_stream("quote-Q1")) == 1


def test_a_stale_cache_never_makes_a_stale_decision_stick():
    store = InMemoryEventStore()
    worker_a, worker_b = CommandHandler(store, FakeClock()), CommandHandler(store, FakeClock())
    worker_a.handle(create)  # worker A caches the quote as Created
    worker_b.handle(approve)
    worker_b.handle(reject)
    # A's cache says Created: it would approve, but the conditional append refuses and the
    # fresh state (Rejected) refuses the approval.
    with pytest.raises(DomainError, match="rejected"):
        worker_a.handle(command(ApproveQuote(quoteId="Q1"), "approve-2"))
    assert [e.eventType for e in store.read_stream("quote-Q1")] == [
        "QuoteCreated",
        "QuoteApproved",
        "QuoteRejected",
    ]


def test_a_refusal_decided_from_the_cache_is_checked_against_a_fresh_read():
    store = InMemoryEventStore()
    worker_a, worker_b = CommandHandler(store, FakeClock()), CommandHandler(store, FakeClock())
    with pytest.raises(DomainError):
        worker_a.handle(approve)  # caches "no such quote"
    worker_b.handle(create)
    assert (
        worker_a.handle(command(ApproveQuote(quoteId="Q1"), "approve-2")).outcome
        is Outcome.APPENDED
    )


def test_a_no_op_decided_from_the_cache_is_checked_against_a_fresh_read():
    store = InMemoryEventStore()
    worker_a, worker_b = CommandHandler(store, FakeClock()), CommandHandler(store, FakeClock())
    worker_a.handle(create)
    worker_a.handle(approve)  # A caches Approved: approving again is a no-op
    worker_b.handle(reject)
    with pytest.raises(DomainError, match="rejected"):
        worker_a.handle(command(ApproveQuote(quoteId="Q1"), "approve-3"))


def test_a_cached_state_ahead_of_the_store_is_replaced_by_a_full_read():
    # A cache can only run ahead of the store if a write it saw was rolled back; the check of
    # a cached decision must then not build on the cached state.
    store = InMemoryEventStore()
    handler = CommandHandler(store, FakeClock())
    handler.handle(create)
    store._streams.clear()  # the append is gone, as after a rolled-back transaction
    store._receipts.clear()
    assert (
        handler.handle(
            command(
                CreateQuote(quoteId="Q1", customerId="C1", premium=ACCEPTED_PREMIUM), "create-2"
            )
        ).outcome
        is Outcome.APPENDED
    )
    assert [e.eventType for e in store.read_stream("quote-Q1")] == ["QuoteCreated"]


class AlwaysConflicting(InMemoryEventStore):
    def append(self, stream_id, expected_version, events, command_id):
        raise ConcurrencyConflict("someone else, always")


def test_contention_that_outlasts_the_retries_raises():
    with pytest.raises(ConcurrencyConflict, match="still conflicting"):
        CommandHandler(AlwaysConflicting(), FakeClock()).handle(create)


def test_a_malformed_command_is_refused_before_any_io():
    bad = create.model_copy(update={"data": {"quoteId": "Q1"}})
    store = CountingStore(InMemoryEventStore())
    with pytest.raises(Unprocessable, match="customerId"):
        CommandHandler(store, FakeClock()).handle(bad)
    assert (store.reads, store.appends) == (0, 0)


def test_a_command_addressed_to_another_aggregate_is_refused():
    wrong = create.model_copy(update={"aggregateId": "Q2"})
    with pytest.raises(Unprocessable, match="does not match"):
        CommandHandler(InMemoryEventStore(), FakeClock()).handle(wrong)


def test_contention_is_tried_eight_times_before_it_is_given_up():
    store = CountingStore(AlwaysConflicting())
    with pytest.raises(ConcurrencyConflict, match="after 8 tries"):
        CommandHandler(store, FakeClock()).handle(create)
    assert store.appends == 8


def test_a_command_that_changes_nothing_is_decided_unchanged_at_the_current_version():
    handler = CommandHandler(InMemoryEventStore(), FakeClock())
    handler.handle(create)
    again = handler.handle(
        command(CreateQuote(quoteId="Q1", customerId="C1", premium=ACCEPTED_PREMIUM), "c2")
    )
    assert (again.outcome, again.version, again.events) == (Outcome.UNCHANGED, 1, ())
    assert again.state.status == "Created"


def test_a_refusal_from_a_cold_cache_is_believed_after_one_read():
    store = CountingStore(InMemoryEventStore())
    with pytest.raises(DomainError, match="does not exist"):
        CommandHandler(store, FakeClock()).handle(approve)
    assert (store.reads, store.appends) == (1, 0)


def test_a_redelivered_command_answers_with_the_streams_fresh_state_and_version():
    from application.commands import Rules
    from domain.customer import Customer, CustomerRules
    from domain.messages import UpdateCustomerPolicyCount

    store, rules = (
        InMemoryEventStore(),
        Rules().with_rules(CUSTOMER, CustomerRules(max_active_policies=0)),
    )
    update = command(UpdateCustomerPolicyCount(customerId="C1", policyId="P1", quoteId="Q1"), "u1")
    CommandHandler(store, FakeClock(), rules).handle(update)
    again = CommandHandler(store, FakeClock(), rules).handle(update)
    assert (again.outcome, again.version, again.state) == (
        Outcome.ALREADY_HANDLED,
        1,
        Customer(customerId="C1"),
    )


def test_the_state_cache_keeps_the_most_recently_used_streams_up_to_its_size():
    from application.deciding import DecisionRunner

    store = CountingStore(InMemoryEventStore())
    handler = CommandHandler(store, FakeClock())
    handler.runner = DecisionRunner(store, FakeClock(), cache_size=2)
    for quote_id in ("QA", "QB"):
        handler.handle(
            command(
                CreateQuote(quoteId=quote_id, customerId="C1", premium=ACCEPTED_PREMIUM), quote_id
            )
        )
    handler.handle(command(ApproveQuote(quoteId="QA"), "approve-QA"))  # QA used last: kept
    handler.handle(
        command(CreateQuote(quoteId="QC", customerId="C1", premium=ACCEPTED_PREMIUM), "QC")
    )
    reads = store.reads
    for quote_id in ("QA", "QC"):  # cached: decided without a read
        handler.handle(command(RejectQuote(quoteId=quote_id, reason="r"), f"reject-{quote_id}"))
    assert store.reads == reads
    handler.handle(command(RejectQuote(quoteId="QB", reason="r"), "reject-QB"))
    assert store.reads == reads + 1  # QB, the least recently used, was evicted


def test_a_cached_state_is_replaced_by_a_newer_one_or_a_fresh_read_never_by_an_older_one():
    from application.deciding import DecisionRunner

    runner = DecisionRunner(InMemoryEventStore(), FakeClock(), cache_size=1)
    runner._remember("s", "v2", 2)
    runner._remember("s", "v1", 1)
    assert runner._cached("s") == ("v2", 2)
    runner._remember("s", "v3", 3)
    assert runner._cached("s") == ("v3", 3)
    runner._remember("s", "read", 1, replace=True)  # a fresh read is the truth
    assert runner._cached("s") == ("read", 1)
    runner._remember("t", "other", 1)
    assert (runner._cached("s"), runner._cached("t")) == (None, ("other", 1))


class RivalFirst(CountingStore):
    """Runs `rival` (another writer) just before this store's first append."""

    def __init__(self, inner, rival) -> None:
        super().__init__(inner)
        self.rival = rival

    def append(self, stream_id, expected_version, events, command_id):
        if self.rival is not None:
            rival, self.rival = self.rival, None
            rival()
        return super().append(stream_id, expected_version, events, command_id)


def test_a_refusal_decided_after_a_conflict_is_believed_from_the_read_that_followed_it():
    inner = InMemoryEventStore()
    CommandHandler(inner, FakeClock()).handle(create)
    store = RivalFirst(inner, lambda: CommandHandler(inner, FakeClock()).handle(reject))
    with pytest.raises(DomainError, match="rejected"):
        CommandHandler(store, FakeClock()).handle(approve)
    assert (store.reads, store.appends) == (2, 1)  # no third read to check the second


def test_a_fresh_read_replaces_a_cached_state_that_ran_ahead_of_the_store():
    store = CountingStore(InMemoryEventStore())
    handler = CommandHandler(store, FakeClock())
    handler.handle(create)
    store.inner._streams.clear()  # rolled back, as in the test above
    store.inner._receipts.clear()
    for attempt in ("approve-a", "approve-b"):
        appends = store.appends
        with pytest.raises(DomainError, match="does not exist"):
            handler.handle(command(ApproveQuote(quoteId="Q1"), attempt))
        # the first learns from a failed append; the second decides from the corrected cache
        assert store.appends - appends == (1 if attempt == "approve-a" else 0)
