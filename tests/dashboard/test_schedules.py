"""The dashboard's schedules page over HTTP: each schedule's rule, state, next run
and latest runs, and its pause, resume and trigger buttons (CSRF-guarded)."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx

from outlast import WorkflowStatus
from outlast.dashboard.schedules import done_message
from tests.dashboard.demo import Demo
from tests.dashboard.test_app import csrf_of, get

HOURLY = "demo-hourly"
EVERY = "demo-every"


def schedule_rows(page: str) -> dict[str, str]:
    found = {}
    for sid, body in re.findall(r'<tr data-schedule="([^"]+)">(.*?)</tr>', page, re.S):
        found[sid] = " ".join(re.sub(r"<[^>]+>", " ", body).split())
    return found


def make_schedules(demo: Demo) -> None:
    demo.client.create_schedule(
        HOURLY, "task_chain_workflow", input=1, cron="0 * * * *", timezone="Europe/Paris"
    )
    demo.client.create_schedule(EVERY, "task_chain_workflow", input=2, every=timedelta(days=1))


def test_an_empty_page_says_how_to_make_one(demo: Demo) -> None:
    page = get(demo, "/schedules")
    assert page.status_code == 200
    assert "No schedule yet" in page.text
    assert 'href="/schedules"' in get(demo, "/").text  # in the navigation


def test_each_schedule_shows_its_rule_state_and_next_run(demo: Demo) -> None:
    make_schedules(demo)
    rows = schedule_rows(get(demo, "/schedules").text)
    assert set(rows) == {HOURLY, EVERY}
    assert "cron 0 * * * * (Europe/Paris)" in rows[HOURLY]
    assert "active" in rows[HOURLY] and "from now" in rows[HOURLY]
    assert "every 1d" in rows[EVERY]
    assert "no run yet" in rows[EVERY]


def test_pause_resume_and_trigger(demo: Demo) -> None:
    make_schedules(demo)
    page = get(demo, "/schedules")
    cookies, token = page.cookies, csrf_of(page)

    def press(action: str, sid: str = HOURLY, csrf: str = token) -> httpx.Response:
        return httpx.post(
            f"{demo.url}/schedules/{sid}/{action}", data={"csrf": csrf}, cookies=cookies
        )

    assert press("pause", csrf="forged").status_code == 403
    assert demo.client.get_schedule(HOURLY).paused is False  # type: ignore[union-attr]

    done = press("pause")
    assert done.status_code == 303
    after = httpx.get(demo.url + done.headers["location"], headers={"Accept": "text/html"})
    assert f"Schedule {HOURLY} paused." in after.text
    assert "paused" in schedule_rows(after.text)[HOURLY]
    assert demo.client.get_schedule(HOURLY).paused is True  # type: ignore[union-attr]
    assert 'data-action="resume"' in after.text

    assert press("resume").status_code == 303
    assert demo.client.get_schedule(HOURLY).paused is False  # type: ignore[union-attr]

    triggered = press("trigger", EVERY)
    assert triggered.status_code == 303
    schedule = demo.client.get_schedule(EVERY)
    assert schedule is not None and len(schedule.recent_runs) == 1
    run = schedule.recent_runs[0]
    assert run.kind == "trigger" and run.instance_id is not None
    demo.client.wait_for_workflow_completion(run.instance_id, timeout_in_seconds=30)
    listed = get(demo, "/schedules").text
    assert f'href="/instances/{run.instance_id}"' in listed
    assert WorkflowStatus.COMPLETED.value in schedule_rows(listed)[EVERY]


def test_unknown_schedules_and_actions_are_404_messages(demo: Demo) -> None:
    make_schedules(demo)
    page = get(demo, "/schedules")
    for path in ("/schedules/nope/pause", f"/schedules/{HOURLY}/explode"):
        answer = httpx.post(demo.url + path, data={"csrf": csrf_of(page)}, cookies=page.cookies)
        assert answer.status_code == 404
        assert "schedule" in answer.text


def test_the_confirmation_is_a_fixed_sentence() -> None:
    assert done_message({"done": "pause", "schedule": "s"}) == "Schedule s paused."
    assert (
        done_message({"done": "trigger", "schedule": "s", "started": "s-1"})
        == "Schedule s triggered: started s-1."
    )
    assert done_message({"done": "anything you like", "schedule": "s"}) is None
    assert done_message({"done": "pause"}) is None
