"""The operator console in headless Chromium against a real local host process: it loads,
filters sagas by status, opens a timeline, replays a dead letter and cancels a running saga,
showing what it is given as text; a screenshot is kept in .artefacts/console.png."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from adapters.sqlite_database import SqliteDatabase
from adapters.sqlite_log import SqliteHubLog, SqliteLogCommandPublisher
from bootstrap import DEFAULTS
from domain.messages import RejectQuote
from domain.registry import command_hubs, make_command
from tests.e2e.hosts import REPO, HostProcess, wait_until_quiet
from tests.support.builders import (
    ACCEPTED_PREMIUM,
    OVER_LIMIT_PREMIUM,
    accepted_premium,
    underwriting_refusal,
)
from triggers import openapi

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps calling hosts this network refuses
# (../shared/notes/browser-tests.md).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTEFACTS = REPO / ".artefacts"
KEY = "the-admin-key"  # the local host checks no key; the page must pass it on all the same
# The reason of the parked RejectQuote, shown on the quote's timeline once it is replayed.
HOSTILE = 'sent early <img src=x onerror="window.pwned=1"> & <b>parked</b>'
WHY = "the customer withdrew the application"
HUBS = command_hubs(DEFAULTS.__getitem__)  # every registered aggregate's


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser test: {CHROMIUM} is missing (.ci/run installs it)")
    pytest.skip(f"Chromium is not installed ({CHROMIUM}): apt-get install chromium")


def needs(*operations: str) -> None:
    """Skip, naming them, while the API lacks routes an interaction uses."""
    missing = sorted(set(operations) - {op.name for op in openapi.OPERATIONS})
    if missing:
        pytest.skip(f"the API has no {', '.join(missing)} route yet")


def park_a_reject_for_a_quote_not_yet_created(data_dir: Path, quote_id: str) -> None:
    """A RejectQuote sent ahead of its quote: the quote handler parks it (the quote does not
    exist); once the quote exists, a replay succeeds."""
    command = make_command(
        RejectQuote(quoteId=quote_id, reason=HOSTILE),
        command_id=f"reject-{quote_id}",
        correlation_id=quote_id,
        causation_id="browser-test",
        issued_at=datetime.now(UTC),
    )
    database = SqliteDatabase(data_dir / "store.db")
    try:
        SqliteLogCommandPublisher(SqliteHubLog(database), HUBS, "saga-events").publish([command])
    finally:
        database.close()


def wait_for(check, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError(what)


@pytest.fixture(scope="module")
def host(tmp_path_factory) -> Iterator[HostProcess]:
    """A completed and a compensated saga and a parked command, made by a host running every
    function; then served by a host that holds the policy handler back, with one saga left
    Running at CreatePolicy."""
    require_chromium()
    data_dir = tmp_path_factory.mktemp("console")
    full = HostProcess(data_dir, name="full").start()
    try:
        for quote_id, premium in (("Q-done", ACCEPTED_PREMIUM), ("Q-big", OVER_LIMIT_PREMIUM)):
            full.client.create_quote("C-1", premium, quote_id)
            full.client.approve(quote_id)
            full.client.wait_until_terminal(quote_id)
        park_a_reject_for_a_quote_not_yet_created(data_dir, "Q-later")
        wait_for(lambda: full.client.request("GET", "/api/deadletters")[1]["items"], "a letter")
        wait_until_quiet(full.client)
    finally:
        assert full.terminate() == 0
    held = {"AzureWebJobs.handle_policy_commands.Disabled": "true"}
    serving = HostProcess(data_dir, name="held", settings=held).start()
    try:
        serving.client.create_quote("C-2", accepted_premium(2), "Q-run")
        serving.client.approve("Q-run")
        wait_for(lambda: serving.client.saga_status("Q-run") == "Running", "Q-run running")
        serving.client.create_quote(
            "C-3", accepted_premium(3), "Q-later"
        )  # the parked reject can run now
        yield serving
    finally:
        serving.kill()


@pytest.fixture(scope="module")
def browser(host):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def calls() -> list[str]:
    """The URL of every API call the console made."""
    return []


@pytest.fixture
def console(host, browser, calls):
    """The console as an operator opens it in Azure (with ?code=)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("request", lambda r: calls.append(r.url) if "/api/" in r.url else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"http://127.0.0.1:{host.port}/api/console?code={KEY}")
    page.wait_for_selector("body[data-ready]")
    yield page
    assert errors == []
    api_calls = [url for url in calls if urlsplit(url).path != "/api/console"]
    assert api_calls
    assert all(parse_qs(urlsplit(url).query).get("code") == [KEY] for url in api_calls)
    page.close()


def called(calls: list[str], path: str, **query: str) -> bool:
    return any(
        urlsplit(url).path == path
        and all(parse_qs(urlsplit(url).query).get(k) == [v] for k, v in query.items())
        for url in calls
    )


def cells(page, table: str, column: int) -> list[str]:
    return page.locator(f"{table} tbody tr td:nth-child({column})").all_inner_texts()


def test_the_console_loads_with_the_open_dead_letters(console, calls):
    assert cells(console, "#letter-table", 3) == ["Q-later"]
    assert cells(console, "#letter-table", 6) == ["Replay"]
    assert called(calls, "/api/deadletters", state="open")


def test_the_console_loads_with_the_count_of_sagas_by_status(console):
    needs("saga_summary")
    labels = console.locator("#summary .count span").all_inner_texts()
    counts = console.locator("#summary .count strong").all_inner_texts()
    assert dict(zip(labels, counts, strict=True)) == {
        "Running": "1", "Compensating": "0", "Completed": "1", "Compensated": "1", "Stuck": "0",
    }  # fmt: skip
    assert console.locator("#message").inner_text() == ""


def test_filtering_by_status_shows_only_the_sagas_of_that_status(console, calls):
    needs("saga_summary", "list_sagas")
    console.locator("#summary .count[data-status=Compensated]").click()
    expect_rows(console, ["Q-big"])
    assert called(calls, "/api/sagas", status="Compensated")
    console.select_option("#status", "Running")
    console.click("#filter button[type=submit]")
    expect_rows(console, ["Q-run"])
    console.select_option("#status", "")
    console.click("#filter button[type=submit]")
    expect_rows(console, ["Q-run", "Q-big", "Q-done"])  # most recent first


def expect_rows(page, quote_ids: list[str]) -> None:
    expect(page.locator("#saga-table tbody tr td:first-child")).to_have_text(quote_ids)


def test_the_saga_list_pages_on_with_the_continuation_and_back_to_the_first(host, browser, calls):
    needs("list_sagas")
    page = browser.new_page()
    page.on("request", lambda r: calls.append(r.url) if "/api/sagas?" in r.url else None)
    page.goto(f"http://127.0.0.1:{host.port}/api/console?code={KEY}&limit=2")
    page.wait_for_selector("body[data-ready]")
    expect_rows(page, ["Q-run", "Q-big"])  # most recent first, two a page
    expect(page.locator("#first")).to_be_disabled()
    page.click("#next")
    expect_rows(page, ["Q-done"])
    expect(page.locator("#page")).to_have_text("page 2")
    expect(page.locator("#next")).to_be_disabled()  # no continuation after the last page
    page.click("#first")
    expect_rows(page, ["Q-run", "Q-big"])
    tokens = [parse_qs(urlsplit(url).query).get("continuation") for url in calls]
    assert [token is None for token in tokens] == [True, False, True]  # first, next, first
    assert {parse_qs(urlsplit(url).query)["limit"][0] for url in calls} == {"2"}
    page.close()


def test_opening_a_quote_shows_its_timeline_with_the_reasons(console):
    console.fill("#open-id", "Q-big")
    console.click("#open button[type=submit]")
    console.wait_for_selector("#timeline tbody tr:nth-child(7)")
    events = cells(console, "#timeline", 3)
    assert events == ["QuoteCreated", "QuoteApproved", "SagaStarted", "PolicyCreationFailed",
                      "SagaCompensationStarted", "QuoteRejected", "SagaCompensated"]  # fmt: skip
    reasons = cells(console, "#timeline", 4)
    limit = underwriting_refusal()
    assert reasons[3:] == [limit] * 4
    assert console.locator("#facts").inner_text().count("Compensated") == 1
    assert console.locator("#cancel-open").is_hidden()  # a terminal saga cannot be cancelled


def test_replaying_a_dead_letter_runs_its_command_and_closes_the_letter(console, host):
    [replay] = console.locator("#letter-table button", has_text="Replay").all()
    replay.click()
    expect(console.locator("#message")).to_contain_text("replayed")
    assert re.fullmatch(r"Letter \S+ replayed at [\d-]+ [\d:]+", console.inner_text("#message"))
    assert cells(console, "#letter-table", 1) == ["no dead letters"]  # none open any more
    console.select_option("#letter-state", "replayed")
    expect(console.locator("#letter-table tbody td:nth-child(3)")).to_have_text(["Q-later"])
    assert cells(console, "#letter-table", 5)[0].startswith("replayed ")
    wait_for(lambda: host.client.quote("Q-later")["quote"]["status"] == "Rejected", "rejected")
    console.locator("#letter-table button", has_text="Q-later").click()
    expect(console.locator("#timeline tbody td:nth-child(3)")).to_contain_text(["QuoteRejected"])
    assert cells(console, "#timeline", 4)[-1] == HOSTILE  # shown as text, not as markup
    assert console.evaluate("() => window.pwned") is None
    assert console.locator("img, #quote b").count() == 0


def test_cancelling_a_running_saga_asks_why_and_compensates_it(console, host):
    needs("cancel_quote")
    console.fill("#open-id", "Q-run")
    console.click("#open button[type=submit]")
    expect(console.locator("#facts")).to_contain_text("Running")
    console.once("dialog", lambda dialog: dialog.accept(WHY))
    console.click("#cancel-open")
    expect(console.locator("#message")).to_contain_text("accepted")
    assert console.inner_text("#message") == "Cancel of Q-run accepted: the saga is Compensating"
    wait_for(lambda: host.client.saga_status("Q-run") == "Compensated", "Q-run compensated")
    console.click("#refresh")
    expect(console.locator("#facts")).to_contain_text("Compensated")
    assert console.locator("#cancel-open").is_hidden()
    events = cells(console, "#timeline", 3)
    assert events[-3:] == ["SagaCancelled", "QuoteRejected", "SagaCompensated"]
    assert cells(console, "#timeline", 4)[-1] == f"cancelled by operator: {WHY}"


def test_a_running_sagas_row_has_a_cancel_button_that_asks_why(console, host):
    needs("list_sagas", "cancel_quote")
    host.client.create_quote("C-4", accepted_premium(4), "Q-run-2")
    host.client.approve("Q-run-2")
    wait_for(lambda: host.client.saga_status("Q-run-2") == "Running", "Q-run-2 running")
    console.select_option("#status", "Running")
    console.click("#filter button[type=submit]")
    cancel = console.locator("#saga-table button[data-quote='Q-run-2']")
    expect(cancel).to_have_text("Cancel")
    assert set(cells(console, "#saga-table", 4)) == {"Running"}
    console.once("dialog", lambda dialog: dialog.dismiss())  # asked why, and thought better
    cancel.click()
    expect(console.locator("#message")).to_have_text("")
    assert host.client.saga_status("Q-run-2") == "Running"
    console.once("dialog", lambda dialog: dialog.accept(WHY))
    cancel.click()
    expect(console.locator("#message")).to_contain_text("Cancel of Q-run-2 accepted")
    wait_for(lambda: host.client.saga_status("Q-run-2") == "Compensated", "Q-run-2 compensated")


def test_the_console_as_it_ends_is_kept_as_a_screenshot(console):
    console.fill("#open-id", "Q-run")
    console.click("#open button[type=submit]")
    expect(console.locator("#quote-id")).to_have_text("Q-run")
    console.select_option("#letter-state", "")
    expect(console.locator("#letter-table tbody td:nth-child(3)")).to_have_text(["Q-later"])
    ARTEFACTS.mkdir(exist_ok=True)
    console.screenshot(path=ARTEFACTS / "console.png", full_page=True)
    assert (ARTEFACTS / "console.png").stat().st_size > 10_000
