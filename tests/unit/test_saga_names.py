"""What the saga stores and derives ids from is fixed: every path's command ids, trigger names
and steps, pinned to the values the saga wrote before these names were registered ones."""

from datetime import UTC, datetime, timedelta
from functools import reduce

import pytest

from domain import saga
from domain.messages import (
    CustomerPolicyCountUpdated,
    CustomerPolicyCountUpdateFailed,
    PolicyCreated,
    PolicyCreationFailed,
    QuoteApproved,
    QuoteRejected,
)
from domain.saga import SagaInput, cancel_input, policy_id_for, timeout_input

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = policy_id_for("Q1")


def inp(payload, input_id: str, minutes: int) -> SagaInput:
    return SagaInput(input_id, T0 + timedelta(minutes=minutes), "Q1", payload)


approved = inp(QuoteApproved(quoteId="Q1", customerId="C1", premium=100), "e-approved", 0)
created = inp(
    PolicyCreated(policyId=POLICY, quoteId="Q1", customerId="C1", premium=100), "e-policy", 1
)
failed = inp(
    PolicyCreationFailed(policyId=POLICY, quoteId="Q1", customerId="C1", reason="x"),
    "e-failed",
    1,
)
counted = inp(
    CustomerPolicyCountUpdated(customerId="C1", policyId=POLICY, quoteId="Q1", policyCount=1),
    "e-counted",
    2,
)
count_failed = inp(
    CustomerPolicyCountUpdateFailed(customerId="C1", policyId=POLICY, quoteId="Q1", reason="m"),
    "e-count-failed",
    2,
)
rejected = inp(QuoteRejected(quoteId="Q1", reason="x"), "e-rejected", 3)
cancel = cancel_input("Q1", "why", "alice", T0 + timedelta(minutes=3))


def time_out(state: saga.SagaState) -> SagaInput:
    assert state.step is not None
    assert state.deadline is not None
    return timeout_input("Q1", state.step, state.deadline, state.deadline)


PATHS = {
    "completed": (approved, created, counted),
    "policy-failed": (approved, failed, rejected),
    "count-failed": (approved, created, count_failed),
    "timed-out-creating": (approved, time_out),
    "timed-out-counting-then-retried": (approved, created, time_out, time_out),
    "cancelled-counting": (approved, created, cancel),
    "late-policy": (approved, failed, created),
}

# fmt: off
STARTED = ("SagaStarted", "QuoteApproved", "CreatePolicy",
           [("CreatePolicy", "85650eee-1f57-5d64-a5c9-c40bb26616fe")])
ADVANCED = ("SagaAdvanced", "PolicyCreated", "UpdateCustomerPolicyCount",
            [("UpdateCustomerPolicyCount", "004718b3-92cf-5a49-835b-ead4b6dbd859")])
COUNT_UNDO = [("RemoveCustomerPolicy", "ce1f634b-0bc1-5a00-8074-66f3ae5bfe80"),
              ("CancelPolicy", "941ced15-e574-5406-9ad2-99d7972a5264"),
              ("RejectQuote", "4869d01d-a940-5dc4-9b3f-2f1f640c3d9b")]
# (saga event, triggerType, step, [(commandType, commandId)]) of each path, as stored today.
GOLDEN = {
    "completed": [STARTED, ADVANCED, ("SagaCompleted", "CustomerPolicyCountUpdated", None, [])],
    "policy-failed": [
        STARTED,
        ("SagaCompensationStarted", "PolicyCreationFailed", "RejectQuote",
         [("RejectQuote", "00d3e4b8-e728-51d7-bc77-955f64a997a3")]),
        ("SagaCompensated", "QuoteRejected", None, []),
    ],
    "count-failed": [
        STARTED,
        ADVANCED,
        ("SagaCompensationStarted", "CustomerPolicyCountUpdateFailed", "RejectQuote",
         [("CancelPolicy", "1cc6d488-3842-594e-9017-46bbcf5a0a43"),
          ("RejectQuote", "064275c8-3b18-54e2-9a1e-6af7057c9a7a")]),
    ],
    "timed-out-creating": [
        STARTED,
        ("SagaCompensationStarted", "StepTimedOut", "RejectQuote",
         [("CancelPolicy", "cd0351dd-38ad-5236-9a9f-6e2ce6456bdc"),
          ("RejectQuote", "ea80ca73-b461-5055-8a73-82afa5f8cddc")]),
    ],
    "timed-out-counting-then-retried": [
        STARTED,
        ADVANCED,
        ("SagaCompensationStarted", "StepTimedOut", "RejectQuote", COUNT_UNDO),
        ("SagaCompensationRetried", "StepTimedOut", "RejectQuote", COUNT_UNDO),
    ],
    "cancelled-counting": [
        STARTED,
        ADVANCED,
        ("SagaCancelled", "CancelRequested", "RejectQuote",
         [("RemoveCustomerPolicy", "d5541204-288c-54c0-8e5c-2b02ad24c1a3"),
          ("CancelPolicy", "900d5f2d-7580-5584-8028-6ccba0382b6f"),
          ("RejectQuote", "3380fe13-a410-5376-a869-d07684fa3d7e")]),
    ],
    "late-policy": [
        STARTED,
        ("SagaCompensationStarted", "PolicyCreationFailed", "RejectQuote",
         [("RejectQuote", "00d3e4b8-e728-51d7-bc77-955f64a997a3")]),
        ("SagaLateEventCompensated", "PolicyCreated", "RejectQuote",
         [("CancelPolicy", "451af488-a3e8-5fb9-8922-0549a7f816e2")]),
    ],
}
# fmt: on
# The time-out inputs' own ids (uuid5 of quote, step and deadline) of the paths above.
TIMEOUT_IDS = {
    "timed-out-creating": ["0b946754-230f-55b6-b956-791a7e6a7fda"],
    "timed-out-counting-then-retried": [
        "1a7278fc-5200-5ca4-a57c-6a763d53c1a1",
        "fa9b10a0-f6ef-55be-b0d4-d5dd28374acb",
    ],
}


def walk(path: str) -> list[saga.SagaEvent]:
    """Decide and evolve the path's inputs in turn (a time-out of the step waited on then)."""
    state, recorded = saga.initial_state, []
    for step in PATHS[path]:
        given = step(state) if callable(step) else step
        events = saga.decide(state, given)
        recorded += events
        state = reduce(saga.evolve, events, state)
    return recorded


def stored(events: list[saga.SagaEvent]) -> list[tuple[object, ...]]:
    from domain import codec

    return [
        (
            codec.encode(e)[0],
            e.triggerType,
            e.step,
            [(c.commandType, c.commandId) for c in e.commands],
        )
        for e in events
    ]


@pytest.mark.parametrize("path", PATHS)
def test_every_path_stores_the_same_names_and_command_ids_as_before(path):
    assert stored(walk(path)) == GOLDEN[path]


@pytest.mark.parametrize("path", TIMEOUT_IDS)
def test_the_time_outs_of_a_path_keep_their_ids(path):
    ids = [e.triggerId for e in walk(path) if e.triggerType == "StepTimedOut"]
    assert ids == TIMEOUT_IDS[path]


def test_renaming_every_message_class_changes_no_stored_name_and_no_command_id():
    from domain import codec
    from domain.registry import COMMAND_TYPES
    from domain.saga_events import INPUT_NAMES

    classes = [
        *(cls for cls, _ in codec.EVENT_TYPES.values()),
        *(cls for _, cls in COMMAND_TYPES.values()),
        *INPUT_NAMES,
    ]
    names = [(cls.__name__, cls.__qualname__) for cls in classes]
    try:  # a type's names are slots: pytest's monkeypatch cannot restore them
        for n, cls in enumerate(classes):
            cls.__name__ = cls.__qualname__ = f"Renamed{n}"
        assert saga.CancelRequested.__name__.startswith("Renamed")  # the rename took
        for path in PATHS:
            assert stored(walk(path)) == GOLDEN[path]
    finally:
        for cls, (name, qualname) in zip(classes, names, strict=True):
            cls.__name__, cls.__qualname__ = name, qualname
