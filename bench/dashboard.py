"""The dashboard's figures: the list page over a million instances, and large
instances drawn in Chromium.

    .venv/bin/python -m bench.dashboard [--instances 1000000] [--pg URL] [--runs 15]

1. Fills a fresh SQLite file (and, with ``--pg``, a fresh PostgreSQL database on
   that server) with a million instances (as ``bench.list_million`` does), serves
   the dashboard on it, and times the list page: the first page, a status filter,
   a name filter, an ID prefix, and a page deep in the listing. The time is taken
   at the client over loopback (so it bounds the server's time from above), p50
   and p95 of ``--runs`` requests after one warm-up.
2. Runs, on a real runtime, a workflow of 3,333 sequential activities (about
   10,000 history events) and one fanning out to 1,000 activities at once, then loads
   their pages in Debian's Chromium (Playwright) and reads the browser's own
   navigation timing: from the request to the end of the load event, and to
   the first frame painted after it.

Prints figures; judges nothing. Needs the dev install (playwright) and
/usr/bin/chromium (``make browser``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Generator
from pathlib import Path
from typing import Any

import httpx
import psycopg
from tests.dashboard.browser import launch

import outlast
from bench.list_million import NAMES, STATUSES, T0, fill
from outlast.client.paging import encode_token
from outlast.dashboard import create_dashboard
from outlast.http import BackgroundServer

HTML = {"Accept": "text/html"}
# Three events a step (the turn's OrchestratorStarted, TaskScheduled, TaskCompleted):
# about 10,000 events in all.
LONG_STEPS = 3_333
FAN_OUT = 1_000


def fill_postgres(url: str, count: int) -> None:
    """A million rows by COPY (the store's own path would take many minutes)."""
    outlast.WorkflowClient(url)  # creates the schema
    with psycopg.connect(url, autocommit=True) as conn:
        with conn.cursor().copy(
            "COPY outlast_instances (instance_id, name, status, execution_id, created_at, "
            "updated_at) FROM STDIN"
        ) as copy:
            for n in range(count):
                t = T0 + n
                row = (f"i{n:08d}", NAMES[n % len(NAMES)], STATUSES[n % len(STATUSES)], "e", t, t)
                copy.write_row(row)
        conn.execute("VACUUM ANALYZE outlast_instances")


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"p50 {statistics.median(ordered):7.1f} ms  p95 {p95:7.1f} ms"


def time_list_pages(url: str, count: int, runs: int, label: str) -> None:
    client = outlast.WorkflowClient(url)
    half = count // 2
    deep = encode_token(T0 + half, f"i{half:08d}")
    with (
        BackgroundServer(create_dashboard(client)) as server,
        httpx.Client(base_url=server.url, headers=HTML, timeout=60) as http,
    ):
        paths = {
            "first page, counts by status": "/",
            "status RUNNING": "/?status=RUNNING",
            "name workflow_8 and FAILED": "/?name=workflow_8&status=FAILED",
            "ID prefix i0050 (10,000 match)": "/?prefix=i0050",
            "a page halfway through (cursor)": f"/?cursor={deep}",
        }
        print(f"list page, {label}:")
        for name, path in paths.items():
            assert http.get(path).status_code == 200
            samples = []
            for _ in range(runs):
                start = time.perf_counter()
                response = http.get(path)
                samples.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200
            print(f"  {name:<36} {percentiles(samples)}")


def long_workflows(url: str) -> tuple[str, str]:
    runtime = outlast.WorkflowRuntime(url, max_concurrent_activities=64)

    @runtime.activity
    def step(ctx: outlast.ActivityContext, n: int) -> int:
        return n + 1

    @runtime.workflow
    def long_chain(ctx: outlast.WorkflowContext, steps: int) -> Generator[Any, Any, int]:
        n = 0
        for _ in range(steps):
            n = yield ctx.call_activity(step, input=n)
        return n

    @runtime.workflow
    def fan_out(ctx: outlast.WorkflowContext, width: int) -> Generator[Any, Any, int]:
        results = yield outlast.when_all([ctx.call_activity(step, input=n) for n in range(width)])
        return sum(results)

    with runtime:
        client = runtime.client()
        chain = client.schedule_new_workflow(long_chain, input=LONG_STEPS, instance_id="long")
        wide = client.schedule_new_workflow(fan_out, input=FAN_OUT, instance_id="wide")
        for iid in (chain, wide):
            client.wait_for_workflow_completion(iid, timeout_in_seconds=600)
    return chain, wide


def time_renders(url: str, runs: int) -> None:
    chain, wide = long_workflows(url)
    client = outlast.WorkflowClient(url)
    sizes = {iid: len(client.get_workflow_history(iid)) for iid in (chain, wide)}
    with BackgroundServer(create_dashboard(client)) as server, launch() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        print("instance page in Chromium (navigation timing):")
        for iid, label in ((chain, "sequential activities"), (wide, "fan-out of 1,000")):
            loads, paints, served = [], [], []
            for n in range(runs + 1):
                page.goto(f"{server.url}/instances/{iid}", wait_until="load")
                t = page.evaluate(
                    """() => new Promise(done => requestAnimationFrame(() => {
                        const n = performance.getEntriesByType("navigation")[0];
                        done({start: n.requestStart, first: n.responseStart,
                              load: n.loadEventEnd, paint: performance.now()});
                    }))"""
                )
                if n == 0:
                    continue  # warm-up
                served.append(t["first"] - t["start"])
                loads.append(t["load"] - t["start"])
                paints.append(t["paint"] - t["start"])
            bars = page.locator("svg.chart rect.bar").count()
            rows = page.locator("#events tbody tr").count()
            print(
                f"  {iid} ({sizes[iid]:,} events, {label}; {bars:,} bars drawn, "
                f"{rows} rows shown):\n"
                f"    server answer  {percentiles(served)}\n"
                f"    load event     {percentiles(loads)}\n"
                f"    painted        {percentiles(paints)}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=1_000_000)
    parser.add_argument("--pg", help="a PostgreSQL server URL: also measure a database there")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--only", choices=["list", "render"], help="one half of the figures")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.only != "list":
            time_renders(f"sqlite:///{Path(tmp) / 'large.db'}", max(3, args.runs // 3))
        if args.only == "render":
            return
        url = f"sqlite:///{Path(tmp) / 'million.db'}"
        start = time.perf_counter()
        fill(url, args.instances)
        print(f"filled {args.instances:,} instances in {time.perf_counter() - start:.0f} s")
        time_list_pages(url, args.instances, args.runs, f"SQLite, {args.instances:,} instances")
        if args.pg:
            admin = psycopg.connect(args.pg, autocommit=True)
            name = f"dash_bench_{uuid.uuid4().hex[:8]}"
            admin.execute(f"CREATE DATABASE {name}")
            pg_url = args.pg.rsplit("/", 1)[0] + f"/{name}"
            try:
                fill_postgres(pg_url, args.instances)
                time_list_pages(
                    pg_url, args.instances, args.runs, f"PostgreSQL, {args.instances:,} instances"
                )
            finally:
                outlast.WorkflowClient(pg_url).store.close()
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                admin.close()


if __name__ == "__main__":
    main()
