"""The time-out promise on the local host, as an operator would see it: a command handler held
back with `AzureWebJobs.<name>.Disabled`, the timer compensating the stalled saga, and the
late commands' effects undone once the handler runs again."""

from __future__ import annotations

import time

import pytest

from tests.e2e.hosts import HostProcess, open_store, wait_until_quiet
from tests.support.builders import ACCEPTED_PREMIUM
from tests.support.invariants import check_invariants

pytestmark = pytest.mark.e2e

FAST_TIMEOUTS = {
    "SAGA_STEP_TIMEOUT_SECONDS": "1",
    "SAGA_TIMEOUT_SCHEDULE": "* * * * * *",  # every second (NCRONTAB with seconds)
}


def disabled(*functions: str) -> dict[str, str]:
    return {f"AzureWebJobs.{name}.Disabled": "true" for name in functions}


def saga_events(data_dir, quote_id: str) -> list[str]:
    database, store, _ = open_store(data_dir)
    try:
        return [e.eventType for e in store.read_stream(f"saga-{quote_id}")]
    finally:
        database.close()


def run_stalled(tmp_path, held_back: tuple[str, ...], quote_id: str) -> HostProcess:
    """Approve one quote on a host that holds `held_back` back, wait for the saga to end,
    then restart the host with every function enabled and let the late commands run."""
    stalled = HostProcess(tmp_path, settings=FAST_TIMEOUTS | disabled(*held_back)).start()
    stalled.client.create_quote("C-1", ACCEPTED_PREMIUM, quote_id)
    stalled.client.approve(quote_id)
    saga = stalled.client.wait_until_terminal(quote_id, timeout=30)["saga"]
    assert saga["status"] == "Compensated", saga
    assert stalled.terminate() == 0
    restarted = HostProcess(tmp_path, settings=FAST_TIMEOUTS, name="restarted").start()
    wait_until_quiet(restarted.client)
    return restarted


def test_a_saga_stalled_at_create_policy_compensates_and_the_late_policy_is_cancelled(tmp_path):
    host = run_stalled(tmp_path, ("handle_policy_commands",), "Q-stall-policy")
    try:
        database, store, letters = open_store(tmp_path)
        found = check_invariants(store, letters.list())
        database.close()
        (policy,) = found.of("policy").values()
        assert policy.status.value == "Cancelled"  # created late, then cancelled behind it
        assert found.saga_statuses() == {"Q-stall-policy": "Compensated"}
        assert "SagaCompensationStarted" in saga_events(tmp_path, "Q-stall-policy")
    finally:
        host.kill()


def test_a_saga_stalled_at_the_customer_compensates_and_the_late_count_is_undone(tmp_path):
    host = run_stalled(tmp_path, ("handle_customer_commands",), "Q-stall-customer")
    try:
        database, store, letters = open_store(tmp_path)
        found = check_invariants(store, letters.list())
        database.close()
        (customer,) = found.of("customer").values()
        assert customer.activePolicies == ()  # counted late, then removed behind it
        (policy,) = found.of("policy").values()
        assert policy.status.value == "Cancelled"
        assert found.saga_statuses() == {"Q-stall-customer": "Compensated"}
    finally:
        host.kill()


def test_a_compensation_that_stalls_is_retried_at_each_new_deadline(tmp_path):
    held_back = disabled("handle_policy_commands", "handle_quote_commands")
    host = HostProcess(tmp_path, settings=FAST_TIMEOUTS | held_back).start()
    host.client.create_quote("C-1", ACCEPTED_PREMIUM, "Q-retried")
    host.client.approve("Q-retried")
    events: list[str] = []
    for _ in range(100):  # the second time-out of the same step is a new input, not a duplicate
        events = saga_events(tmp_path, "Q-retried")
        if events.count("SagaCompensationRetried") >= 2:
            break
        time.sleep(0.2)
    assert events.count("SagaCompensationRetried") >= 2, events
    assert host.terminate() == 0
    restarted = HostProcess(tmp_path, settings=FAST_TIMEOUTS, name="restarted").start()
    try:
        assert restarted.client.wait_until_terminal("Q-retried", timeout=30)["saga"]["status"] == (
            "Compensated"
        )
        wait_until_quiet(restarted.client)
        database, store, letters = open_store(tmp_path)
        check_invariants(store, letters.list())
        database.close()
    finally:
        restarted.kill()
