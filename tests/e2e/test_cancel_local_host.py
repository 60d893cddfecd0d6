"""Cancelling a saga on the local host, as an operator would: a saga stuck on a held-back
handler is cancelled over HTTP, the quote is rejected with the operator's reason at once, and
once the handler runs again the policy it creates late is cancelled behind it."""

from __future__ import annotations

import time

import pytest

from tests.e2e.hosts import HostProcess, open_store, wait_until_quiet
from tests.support.builders import ACCEPTED_PREMIUM
from tests.support.invariants import check_invariants

pytestmark = pytest.mark.e2e

HELD_BACK = {"AzureWebJobs.handle_policy_commands.Disabled": "true"}
CANCEL = {"reason": "customer withdrew", "requestedBy": "alice"}
WHY = "cancelled by alice: customer withdrew"


def cancel_once_started(host: HostProcess, quote_id: str, timeout: float = 30.0):
    """POST the cancel until the saga has started (404 until the orchestrator saw the approval)."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = host.client.request("POST", f"/api/quotes/{quote_id}/cancel", CANCEL)
        if status != 404 or time.monotonic() >= deadline:
            return status, body
        time.sleep(0.05)


def test_an_operator_cancels_a_stuck_saga_and_the_late_policy_is_cancelled_behind_it(tmp_path):
    stuck = HostProcess(tmp_path, settings=HELD_BACK).start()
    try:
        stuck.client.create_quote("C-1", ACCEPTED_PREMIUM, "Q-cancel")
        stuck.client.approve("Q-cancel")
        status, body = cancel_once_started(stuck, "Q-cancel")
        assert status == 202, body
        assert (body["saga"]["status"], body["saga"]["step"]) == ("Compensating", "RejectQuote")
        view = stuck.client.wait_until_terminal("Q-cancel")  # RejectQuote needs no policy
        assert view["saga"]["status"] == "Compensated"
        assert (view["quote"]["status"], view["quote"]["rejectionReason"]) == ("Rejected", WHY)
        assert WHY in [e["reason"] for e in view["timeline"] if e["eventType"] == "SagaCancelled"]
        # Asked again once it has ended: the cancellation already handled, answered as the
        # first was (a saga ended otherwise refuses a cancel: tests/functions/test_cancel.py).
        status, again = stuck.client.request("POST", "/api/quotes/Q-cancel/cancel", CANCEL)
        assert (status, again["saga"]["status"]) == (202, "Compensated"), again
    finally:
        assert stuck.terminate() == 0
    restarted = HostProcess(tmp_path, name="restarted").start()  # the policy handler is back
    try:
        wait_until_quiet(restarted.client)
        database, store, letters = open_store(tmp_path)
        found = check_invariants(store, letters.list())
        database.close()
        (policy,) = found.of("policy").values()
        assert policy.status.value == "Cancelled"  # CreatePolicy and CancelPolicy, in order
        assert found.saga_statuses() == {"Q-cancel": "Compensated"}
    finally:
        restarted.kill()
