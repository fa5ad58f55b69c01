"""The dashboard in a real browser: Debian's Chromium, driven by Playwright,
against the demo workflows served by ``outlast serve``'s app."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.browser import launch, require_chromium
from tests.dashboard.demo import APPROVAL, CHAIN, RETRY, WAITING, XSS, XSS_ID, Demo, served_demo

# Results show within a few seconds: the page refreshes itself every 2 s.
SOON = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_chromium()
    with launch() as b:
        yield b


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.dialogs = []
    tab.on("dialog", lambda d: (tab.dialogs.append(d.message), d.dismiss()))
    yield tab
    context.close()


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as pw_expect

    return pw_expect(locator)


def status_of(page: Any) -> Any:
    return page.locator("#status")


def test_list_filter_and_open_an_instance(demo: Demo, page: Any) -> None:
    response = page.goto(demo.url + "/")
    assert response.status == 200
    row = page.locator("tr", has=page.get_by_role("link", name=CHAIN, exact=True))
    expect(row).to_contain_text("COMPLETED")
    completed = page.locator('.counts [data-status="COMPLETED"]')
    expect(completed).to_contain_text(re.compile(r"COMPLETED\s*\d+"))
    assert int(completed.locator(".n").inner_text()) >= 5
    # The status filter is a visible control; choosing applies it.
    page.get_by_label("Status").select_option("RUNNING")
    page.wait_for_url(re.compile(r"status=RUNNING"))
    ids = page.locator("a.iid").all_inner_texts()
    assert sorted(ids) == sorted([APPROVAL, WAITING])
    for status in page.locator("#rows .status").all_inner_texts():
        assert status == "RUNNING"
    # An instance opens in the same tab.
    page.get_by_role("link", name=APPROVAL, exact=True).click()
    page.wait_for_url(re.compile(f"/instances/{APPROVAL}$"))
    expect(status_of(page)).to_have_text("RUNNING")
    assert page.locator("dt", has_text=re.compile("^Status$")).count() == 1


def test_timeline_bars_and_history_rows(demo: Demo, page: Any) -> None:
    page.goto(demo.url + f"/instances/{RETRY}")
    timeline = page.get_by_role("img", name="Timeline")
    expect(timeline).to_be_visible()
    assert timeline.evaluate("el => el.tagName.toLowerCase()") == "svg"
    bars = timeline.locator("rect.bar")
    assert bars.count() >= 7  # five attempts and two retry waits
    labels = timeline.locator("text.lane-label .lane-name").all_text_contents()
    assert labels == ["book_flight", "book_hotel", "book_car"]
    # Bars sit on a linear time axis: later starts are further right.
    xs = [float(bars.nth(n).get_attribute("x")) for n in range(bars.count())]
    starts = [int(bars.nth(n).get_attribute("data-seq")) for n in range(bars.count())]
    by_start = [x for _, x in sorted(zip(starts, xs, strict=True))]
    assert by_start == sorted(by_start)
    history = demo.client.get_workflow_history(RETRY)
    kinds = page.locator("#events tbody td.kind").all_inner_texts()
    assert kinds == [e["kind"] for e in history]
    # The views point at each other: a bar marks its events.
    hotel = timeline.locator("rect.bar.failed").first
    hotel.click()
    seq = hotel.get_attribute("data-seq")
    expect(page.locator(f"#event-{seq}")).to_have_class(re.compile(r"\bhit\b"))
    # And picks it for a rerun.
    assert page.locator("#rerun-event").input_value() == seq
    # The history filters by kind.
    page.locator("#history-filter select").select_option("TaskFailed")
    page.wait_for_url(re.compile(r"kind=TaskFailed"))
    assert set(page.locator("#events tbody td.kind").all_inner_texts()) == {"TaskFailed"}


def test_raise_an_event_from_the_form_and_see_it_complete(demo: Demo, page: Any) -> None:
    page.goto(demo.url + f"/instances/{APPROVAL}")
    expect(status_of(page)).to_have_text("RUNNING")
    page.get_by_label("Event name").fill("approval_received")
    page.get_by_label("Data (JSON)").fill('{"approver": "Jane Doe"}')
    page.get_by_role("button", name="Raise event").click()
    expect(page.locator("#result")).to_contain_text("Event raised")
    expect(status_of(page)).to_have_text("COMPLETED", timeout=SOON)
    expect(page.locator("#summary")).to_contain_text("Approved by 'Jane Doe'", timeout=SOON)


def test_suspend_resume_and_terminate(demo: Demo, page: Any) -> None:
    page.goto(demo.url + f"/instances/{WAITING}")
    page.get_by_role("button", name="Suspend").click()
    expect(status_of(page)).to_have_text("SUSPENDED", timeout=SOON)
    expect(page.locator("#waiting")).to_contain_text("suspended", timeout=SOON)
    page.get_by_role("button", name="Resume").click()
    expect(status_of(page)).to_have_text("RUNNING", timeout=SOON)
    page.get_by_role("button", name="Terminate").click()
    expect(status_of(page)).to_have_text("TERMINATED", timeout=SOON)
    expect(page.get_by_role("button", name="Purge")).to_be_visible(timeout=SOON)


def test_the_xss_payload_stays_text(demo: Demo, page: Any) -> None:
    page.goto(demo.url + f"/instances/{XSS_ID}")
    expect(page.locator("#summary")).to_contain_text(XSS)
    page.goto(demo.url + "/")
    assert page.locator("main img").count() == 0
    page.goto(demo.url + f"/instances/{XSS_ID}")
    for toggle in page.locator("#events details summary").all():
        toggle.click()
    expect(page.locator("#events")).to_contain_text(XSS)
    assert page.locator("main img").count() == 0
    assert page.dialogs == []  # no alert ran


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[Demo]:
    with served_demo(f"sqlite:///{tmp_path}/guarded.db", api_token="s3cret") as running:
        yield running


def test_without_the_token_requests_are_refused(guarded: Demo, page: Any) -> None:
    response = page.goto(guarded.url + "/")
    assert response.status == 401
    assert page.locator("a.iid").count() == 0
    assert page.request.get(guarded.url + f"/instances/{CHAIN}").status == 401
    token = page.get_by_label("Token")
    assert token.get_attribute("type") == "password"
    token.fill("wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("not the one")
    page.get_by_label("Token").fill("s3cret")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("link", name=CHAIN, exact=True)).to_be_visible()
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["outlast_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert page.request.get(guarded.url + f"/instances/{CHAIN}").status == 200


def test_screenshots(demo: Demo, page: Any, tmp_path: Path) -> None:
    """The pictures in docs/dashboard.md: OUTLAST_SCREENSHOTS=docs/images writes them."""
    out = Path(os.environ.get("OUTLAST_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    shots = {
        "dashboard-list.png": "/",
        "dashboard-retries.png": f"/instances/{RETRY}",
        "dashboard-waiting.png": f"/instances/{APPROVAL}",
        "dashboard-children.png": "/instances/order-A1",
    }
    for name, path in shots.items():
        page.goto(demo.url + path)
        page.screenshot(path=str(out / name), full_page=True)
        assert (out / name).stat().st_size > 10_000


def test_schedules_page_pause_and_trigger(demo: Demo, page: Any) -> None:
    demo.client.create_schedule(
        "browser-nightly", "task_chain_workflow", input=3, cron="30 2 * * *"
    )
    page.goto(demo.url + "/")
    page.get_by_role("link", name="Schedules", exact=True).click()
    page.wait_for_url(re.compile(r"/schedules$"))
    row = page.locator('tr[data-schedule="browser-nightly"]')
    expect(row.locator(".state")).to_have_text("active")
    row.get_by_role("button", name="Pause").click()
    expect(page.locator("#result")).to_have_text("Schedule browser-nightly paused.")
    expect(row.locator(".state")).to_have_text("paused")
    row.get_by_role("button", name="Trigger").click()
    expect(page.locator("#result")).to_contain_text("triggered: started browser-nightly-")
    # The run it started links to its instance, which completes.
    run = row.locator("ul.runs a.iid").first
    expect(run).to_be_visible()
    run.click()
    page.wait_for_url(re.compile(r"/instances/browser-nightly-"))
    expect(status_of(page)).to_have_text("COMPLETED", timeout=SOON)
