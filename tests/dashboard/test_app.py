"""The dashboard over HTTP, as ``outlast serve`` serves it: pages, filters,
actions, and the guards (CSP, escaping, CSRF, the token cookie)."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from outlast import WorkflowStatus
from tests.dashboard.demo import (
    APPROVAL,
    CHAIN,
    CHILDREN,
    ORDER,
    RETRY,
    WAITING,
    XSS,
    XSS_ID,
    Demo,
    served_demo,
)

HTML = {"Accept": "text/html"}


def get(demo: Demo, path: str, **kw: object) -> httpx.Response:
    return httpx.get(demo.url + path, headers=HTML, timeout=30, **kw)  # type: ignore[arg-type]


def csrf_of(page: httpx.Response) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match, "no CSRF field on the page"
    return match.group(1)


def rows(page: str) -> dict[str, str]:
    """The instances table: ID -> the text of its row."""
    found = {}
    for row in re.findall(r'<tr data-instance="([^"]+)">(.*?)</tr>', page, re.S):
        found[row[0]] = re.sub(r"<[^>]+>", " ", row[1])
    return found


def test_the_list_shows_every_instance_with_its_status_and_the_counts(any_store: str) -> None:
    with served_demo(any_store) as demo:
        page = get(demo, "/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        table = rows(page.text)
        assert "COMPLETED" in table[CHAIN] and "RUNNING" in table[APPROVAL]
        assert set(table) >= {CHAIN, ORDER, APPROVAL, RETRY, CHILDREN, XSS_ID, WAITING}
        counts = dict(re.findall(r'data-status="(\w+)">.*?<b class="n">(\d+)</b>', page.text))
        finished = demo.client.count_workflows().counts
        assert int(counts["COMPLETED"]) == finished[WorkflowStatus.COMPLETED]
        assert int(counts["RUNNING"]) == finished[WorkflowStatus.RUNNING]


def test_filters_by_status_name_prefix_and_time(demo: Demo) -> None:
    running = rows(get(demo, "/?status=RUNNING").text)
    assert set(running) == {APPROVAL, WAITING}
    named = rows(get(demo, "/?name=task_chain_workflow").text)
    assert set(named) == {CHAIN}
    prefixed = rows(get(demo, "/?prefix=order-A1").text)
    assert CHILDREN in prefixed and all(i.startswith("order-A1") for i in prefixed)
    assert rows(get(demo, "/?after=2999-01-01T00:00").text) == {}
    bad = get(demo, "/?status=SLEEPY&after=yesterday")
    assert bad.status_code == 400
    assert "unknown status &#39;SLEEPY&#39;" in bad.text and "not a date" in bad.text
    assert "Traceback" not in bad.text


def test_paging_walks_every_instance_once(demo: Demo) -> None:
    for n in range(60):
        demo.client.schedule_new_workflow("task_chain_workflow", input=n, instance_id=f"p-{n:02d}")
    seen: list[str] = []
    path = "/?prefix=p-"
    while True:
        page = get(demo, path).text
        seen.extend(rows(page))
        more = re.search(r'href="(/\?[^"]*cursor=[^"]+)" rel="next"', page)
        if more is None:
            break
        path = more.group(1).replace("&amp;", "&")
    assert seen == [f"p-{n:02d}" for n in range(60)]


def test_the_api_keeps_its_paths_and_answers_at_root_without_html(demo: Demo) -> None:
    assert httpx.get(demo.url + "/").json()["name"] == "outlast"
    missing = httpx.get(demo.url + "/v2/nothing")
    assert missing.status_code == 404 and missing.json()["errorCode"] == "ERR_NOT_FOUND"
    assert get(demo, "/instances/nobody").status_code == 404


def test_an_instance_page_shows_status_timeline_history_and_payloads(demo: Demo) -> None:
    page = get(demo, f"/instances/{RETRY}")
    assert page.status_code == 200
    text = page.text
    assert re.search(r"<dt>Status</dt><dd id=\"status\"><span[^>]*>COMPLETED</span>", text)
    assert '<h2 id="timeline-title">Timeline</h2>' in text and "<svg" in text
    assert text.count('class="bar activity') >= 5  # three bookings, two failed attempts
    assert 'class="bar retry' in text
    for label in ("book_flight", "book_hotel", "book_car"):
        assert f">{label}" in text
    kinds = re.findall(r'<td class="kind">(\w+)</td>', text)
    history = demo.client.get_workflow_history(RETRY)
    assert kinds == [e["kind"] for e in history]
    assert "Lisbon" in text  # the input


def test_waiting_on_names_the_open_steps(demo: Demo) -> None:
    text = get(demo, f"/instances/{APPROVAL}").text
    waiting = text[
        text.index('id="waiting"') : text.index("</section>", text.index('id="waiting"'))
    ]
    assert "timer" in waiting and "until" in waiting  # the 24-hour timeout


def test_children_are_listed_as_links(demo: Demo) -> None:
    text = get(demo, f"/instances/{CHILDREN}").text
    kids = [s.instance_id for s in demo.client.list_workflows(parent_instance_id=CHILDREN)]
    assert kids
    for kid in kids:
        assert f'href="/instances/{kid}"' in text
    child = get(demo, f"/instances/{kids[0]}").text
    assert f'href="/instances/{CHILDREN}"' in child  # the parent


def test_payloads_are_text_never_markup(demo: Demo) -> None:
    text = get(demo, f"/instances/{XSS_ID}").text
    assert XSS not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text
    listing = get(demo, "/").text
    assert "<img" not in listing


def test_control_characters_show_as_escapes(demo: Demo) -> None:
    demo.client.schedule_new_workflow("task_chain_workflow", input=1, instance_id="esc")
    demo.client.wait_for_workflow_completion("esc")
    demo.client.schedule_new_workflow(
        "purchase_order_workflow",
        instance_id="esc2",
        input={"cost": 5000, "product": "\x1b[31mred", "quantity": 1},
    )
    demo.client.wait_for_workflow_start("esc2")
    demo.client.raise_workflow_event("esc2", "approval_received", data={"approver": "\x1b]0;x\x07"})
    demo.client.wait_for_workflow_completion("esc2")
    text = get(demo, "/instances/esc2").text
    assert "\x1b" not in text and "\x07" not in text


def test_large_payloads_load_on_demand(demo: Demo) -> None:
    big = "x" * 5000
    demo.client.schedule_new_workflow("task_chain_workflow", input=big, instance_id="big")
    demo.client.wait_for_workflow_completion("big")
    text = get(demo, "/instances/big").text
    assert big not in text and 'data-url="/instances/big/payload/input"' in text
    whole = httpx.get(demo.url + "/instances/big/payload/input")
    assert whole.text == f'"{big}"'
    assert whole.headers["x-content-type-options"] == "nosniff"
    history = demo.client.get_workflow_history("big")
    seq = next(n for n, e in enumerate(history) if e["kind"] == "ExecutionStarted")
    event = httpx.get(demo.url + f"/instances/big/events/{seq}/input")
    assert event.status_code == 200 and big in event.text
    assert httpx.get(demo.url + f"/instances/big/events/{seq}/secret").status_code == 404


def test_actions_need_the_csrf_token_and_work_with_it(demo: Demo) -> None:
    page = get(demo, f"/instances/{WAITING}")
    refused = httpx.post(
        demo.url + f"/instances/{WAITING}/suspend",
        data={"csrf": "forged"},
        cookies=page.cookies,
    )
    assert refused.status_code == 403
    cross = httpx.post(
        demo.url + f"/instances/{WAITING}/suspend",
        data={"csrf": csrf_of(page)},
        cookies=page.cookies,
        headers={"Origin": "http://evil.example"},
    )
    assert cross.status_code == 403
    done = httpx.post(
        demo.url + f"/instances/{WAITING}/suspend",
        data={"csrf": csrf_of(page)},
        cookies=page.cookies,
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/instances/{WAITING}?done=suspend"
    assert _eventually(demo, WAITING, WorkflowStatus.SUSPENDED)


def test_action_errors_are_messages(demo: Demo) -> None:
    page = get(demo, f"/instances/{CHAIN}")
    cookies, token = page.cookies, csrf_of(page)
    again = httpx.post(
        demo.url + f"/instances/{CHAIN}/terminate",
        data={"csrf": token},
        cookies=cookies,
        headers=HTML,
    )
    assert again.status_code == 409 and "already COMPLETED" in again.text
    bad = httpx.post(
        demo.url + f"/instances/{WAITING}/raise",
        data={"csrf": token, "event_name": "x", "event_data": "{nope"},
        cookies=cookies,
    )
    assert bad.status_code == 400 and "not valid JSON" in bad.text
    assert "Traceback" not in bad.text + again.text


def test_raise_rerun_and_purge(demo: Demo) -> None:
    page = get(demo, f"/instances/{APPROVAL}")
    cookies, token = page.cookies, csrf_of(page)
    raised = httpx.post(
        demo.url + f"/instances/{APPROVAL}/raise",
        data={
            "csrf": token,
            "event_name": "approval_received",
            "event_data": '{"approver": "Ann"}',
        },
        cookies=cookies,
    )
    assert raised.status_code == 303
    state = demo.client.wait_for_workflow_completion(APPROVAL, timeout_in_seconds=30)
    assert state is not None and "Ann" in (state.serialized_output or "")
    history = demo.client.get_workflow_history(CHAIN)
    scheduled = next(n for n, e in enumerate(history) if e["kind"] == "TaskScheduled")
    rerun = httpx.post(
        demo.url + f"/instances/{CHAIN}/rerun",
        data={"csrf": token, "event_id": str(scheduled)},
        cookies=cookies,
    )
    assert rerun.status_code == 303
    new_id = rerun.headers["location"].split("/instances/")[1].split("?")[0]
    assert demo.client.wait_for_workflow_completion(new_id, timeout_in_seconds=30)
    purged = httpx.post(
        demo.url + f"/instances/{new_id}/purge", data={"csrf": token}, cookies=cookies, headers=HTML
    )
    assert purged.status_code == 200 and "purged" in purged.text
    assert demo.client.get_workflow_state(new_id) is None


def test_bulk_terminate_counts_first(demo: Demo) -> None:
    page = get(demo, "/")
    cookies, token = page.cookies, csrf_of(page)
    form = {"csrf": token, "action": "terminate", "name": "purchase_order_workflow"}
    dry = httpx.post(demo.url + "/bulk", data=form, cookies=cookies)
    assert dry.status_code == 200 and "2 instances match" in dry.text
    assert demo.client.get_workflow_state(WAITING).runtime_status is WorkflowStatus.RUNNING  # type: ignore[union-attr]
    done = httpx.post(demo.url + "/bulk", data={**form, "confirm": "yes"}, cookies=cookies)
    assert "Terminate requested for 2 instances" in done.text
    for iid in (APPROVAL, WAITING):
        assert _eventually(demo, iid, WorkflowStatus.TERMINATED)
    purge = {"csrf": token, "action": "purge", "name": "purchase_order_workflow"}
    dry = httpx.post(demo.url + "/bulk", data=purge, cookies=cookies)
    assert "2 instances match" in dry.text
    done = httpx.post(demo.url + "/bulk", data={**purge, "confirm": "yes"}, cookies=cookies)
    assert "Purged 2 instances" in done.text


def _eventually(demo: Demo, iid: str, status: WorkflowStatus) -> bool:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = demo.client.get_workflow_state(iid)
        if state is not None and state.runtime_status is status:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def guarded(tmp_path: object) -> object:
    with served_demo(f"sqlite:///{tmp_path}/guarded.db", api_token="s3cret") as running:
        yield running


def test_with_a_token_the_dashboard_asks_for_it_once(guarded: Demo) -> None:
    demo = guarded
    prompt = get(demo, "/")
    assert prompt.status_code == 401 and 'type="password"' in prompt.text
    assert CHAIN not in prompt.text
    assert httpx.get(demo.url + f"/instances/{CHAIN}").status_code == 401
    wrong = httpx.post(
        demo.url + "/login",
        data={"csrf": csrf_of(prompt), "token": "guess", "next": "/"},
        cookies=prompt.cookies,
    )
    assert wrong.status_code == 401
    login = httpx.post(
        demo.url + "/login",
        data={"csrf": csrf_of(prompt), "token": "s3cret", "next": "//evil.example/"},
        cookies=prompt.cookies,
    )
    assert login.status_code == 303 and login.headers["location"] == "/"
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "s3cret" not in cookie
    jar = httpx.Cookies(prompt.cookies)
    jar.update(login.cookies)
    page = get(demo, "/", cookies=jar)
    assert page.status_code == 200 and CHAIN in page.text
    # The cookie is no API credential, and the API still wants its header.
    api = demo.url + f"/v1.0/workflows/dapr/{CHAIN}"
    assert httpx.get(api, cookies=jar).status_code == 401
    assert httpx.get(api, headers={"dapr-api-token": "s3cret"}).status_code == 200
