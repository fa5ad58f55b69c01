"""Writes a run's results: JSON, the generated block of benchmarks.md, and the chart."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bench import machine, pg, summary
from bench.summary import TIMES, Row, ScaleRow

START = "<!-- bench:results:start -->"
END = "<!-- bench:results:end -->"

TEMPLATE = f"""# Benchmarks

outlast against DBOS Transact (the embedded, SQLite-backed peer a Python user
would otherwise pick) and against the raw commit rate of SQLite on the same
disk; then S1 and S2 again with both systems on one PostgreSQL server, and
outlast with 1, 2 and 3 worker processes on it. Everything between the
`bench:results` markers is written by `make bench`; the prose around them is
edited by hand.

{START}
{END}

## How it is measured

- Each scenario runs outlast and DBOS alternately in the same invocation, each
  run in a fresh subprocess on a fresh SQLite file in the same directory.
- Durable defaults on both sides: outlast with WAL and `synchronous=FULL`;
  DBOS with its own defaults (the SQLite pragmas it ran with are in the JSON).
- Every figure is the median of the runs; each ratio is the median of the
  per-round ratios (one outlast run and one DBOS run back to back).
- The raw SQLite commit rates (one 200-byte insert per transaction) are measured
  at the start of every invocation. S2's target is judged against the
  WAL+FULL rate measured again right beside each outlast S2 run, round by round
  (the median of outlast steps/s ÷ raw commits/s): the disk's speed drifts from
  minute to minute here (from 787 to 5,352 commits/s within one session).
- Activities return `x + 1`; the workflow code is equivalent in both systems
  (`bench/outlast_impl.py`, `bench/dbos_impl.py`).
- DBOS's fan-out is its documented pattern: the workflow enqueues each step on
  a queue and collects the handles' results. Its idle instances are async
  workflows waiting in `DBOS.recv_async`, so that they do not hold a thread
  each. Where DBOS runs at a smaller size than outlast, the table says so:
  the fan-out at 500 (as the issue allows) and the idle instances at 2,000,
  because DBOS starts async workflows at about 75 a second here, so 100,000
  would take over 20 minutes a run. Ratios for those rows compare rates
  (activities/s, memory per instance), not totals.
- On SQLite, DBOS wakes a workflow waiting in `recv` by polling the database
  (once a second by default, `notification_listener_polling_interval_sec`),
  which dominates its raise → complete latency in S5. That is its default, so
  it is what is measured.
- S5 raises the events from a fixed number of concurrent callers (shown in the
  table), and reads resident memory once every instance is waiting: for
  outlast, once the last instance has left PENDING and the process has gone
  quiet; for DBOS, once every instance has registered its `recv` waiter.

### On PostgreSQL (S1PG, S2PG)

- S1PG and S2PG are S1 and S2 (same sizes, same code) with both systems on the
  same PostgreSQL server: outlast with `store="postgresql://..."`, DBOS with
  `system_database_url="postgresql://..."`. Every run gets a fresh database,
  created before it and dropped after it by the runner. The server keeps its
  defaults (`fsync=on`, `synchronous_commit=on`), which the report records, with
  the server's raw commit rate (one 200-byte insert per transaction from one
  connection), measured in the same invocation.
- outlast's column beside DBOS is one process: runtime and client in the
  measuring process, as DBOS runs. Each round then also runs outlast with 2
  and 3 worker processes: the measuring process plus 1 or 2 more
  (`bench/pg_workers.py`), each a `WorkflowRuntime` with the same workflows
  and activities, on the same database. They are started before the clock,
  and the clock starts only once every process's LISTEN connection has heard a
  notification; after the run they are asked to stop (their stdin is closed),
  leave their `with runtime:` block and report how many activities they ran,
  which gives the split of steps between processes shown in the table. A worker
  that fails to start or to stop fails the run.
- A round is outlast, DBOS, outlast with 2 and with 3 processes, back to back,
  in reverse order every other round; the speed-ups (N processes ÷ 1) are
  paired by round like the ratios.
- In S2 a single client starts the workflows one by one (as on SQLite, and as
  for DBOS). On PostgreSQL each start is a durable transaction of its own, so
  the table shows how much of the run the starting took: where it is most of
  it, the figure is the client's, and more workers cannot raise it.
- The machine's 2 cores run the measuring process, the extra workers and the
  PostgreSQL server alike, so the 2- and 3-process figures show what the extra
  processes cost or gain on one small machine, not how a cluster of machines
  scales.

## Running it

```
make bench                          # full sizes, 3 runs, writes docs/benchmarks.{{md,png,json}}
make bench QUICK=1 RUNS=1           # smoke run with small sizes, writes bench/out/
make bench SCENARIOS=S1,S2 RUNS=5   # a subset, more runs
make bench SIZES=s3_fanout_dbos=10000   # any size in bench/config.py, e.g. DBOS at 10,000
make bench SCENARIOS=S1PG,S2PG      # only the PostgreSQL scenarios
make bench SCENARIOS=S2PG PG_WORKERS=1,2,4   # other worker-process counts
make bench BENCH_PG=postgresql://user:pw@host:5432/postgres   # another server
```

The scenarios are S1 to S6 (SQLite) and S1PG, S2PG (PostgreSQL); all eight run by
default. The PostgreSQL ones need a server where the URL's user may create
databases (by default `postgresql://postgres@127.0.0.1:5432/postgres`; the URL
names its maintenance database, and each run gets a database of its own,
`outlast_bench_*`, dropped afterwards unless `BENCH_KEEP=1`). Without a server
they are skipped with a message saying why, and the rest still runs.

`make bench` builds its own virtual env, `.bench-venv`, with outlast installed
from this checkout and the pinned peers from `bench/requirements.txt`. A run
prints each measurement as it goes and exits non-zero only if a run failed;
it never judges a figure. A full run takes about 35 minutes on a 2-core
machine, most of it DBOS's S2 and S5, plus about 7 for S1PG and S2PG; a quick
run about 3.

## What profiling showed

_To be written: the profiles taken, what they showed, and what was changed in
the engine because of them._

## Targets not met

_To be written where a target is not met: which one, and the profile that
explains why._
"""


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def _met_cell(met: bool | None) -> str:
    return {True: "✅ yes", False: "❌ no", None: "—"}[met]


def table(rows: list[Row]) -> str:
    header = "| Scenario | outlast | DBOS | ratio | target | met |\n|---|---|---|---|---|---|\n"
    body = "".join(
        f"| {r.title} | {r.outlast} | {r.dbos} | {r.ratio} | {r.target} | {_met_cell(r.met)} |\n"
        for r in rows
    )
    return header + body


def raw_table(raw: dict[str, Any] | None) -> str:
    if raw is None:
        return "_Raw SQLite was not measured._\n"
    return (
        "| raw SQLite, one 200-byte insert per transaction | commits/s |\n|---|---|\n"
        f"| WAL + synchronous=FULL (outlast's default) | {raw['wal_full_commits_per_s']:,.0f} |\n"
        f"| WAL + synchronous=NORMAL | {raw['wal_normal_commits_per_s']:,.0f} |\n"
        f"| rollback journal + FULL (DBOS's default) | {raw['delete_full_commits_per_s']:,.0f} |\n"
    )


def scale_table(rows: list[ScaleRow]) -> str:
    counts = rows[0].workers
    header = "| outlast on PostgreSQL, by worker processes | " + " | ".join(
        f"{n} process{'es' if n > 1 else ''}" for n in counts
    )
    header += " |\n|---|" + "---|" * len(counts) + "\n"
    body = "".join(f"| {r.title} | " + " | ".join(r.cells) + " |\n" for r in rows)
    return header + body


def postgres_lines(data: dict[str, Any], scale_rows: list[ScaleRow]) -> list[str]:
    """What the PG rows ran on, the server's raw commit rate, the scale-out table."""
    lines: list[str] = []
    server = data.get("postgres")
    if server:
        raw = data.get("raw_postgres")
        raw_text = (
            f" Its raw commit rate, one 200-byte insert per transaction from one "
            f"connection: {raw['commits_per_s']:,.0f} commits/s."
            if raw
            else ""
        )
        lines += [
            f"The PostgreSQL rows ran on {pg.one_line(server)}, each run on a fresh "
            f"database of its own; outlast and DBOS are both clients of it.{raw_text}",
            "",
        ]
    if scale_rows:
        lines += [
            scale_table(scale_rows),
            "One process is outlast's PostgreSQL column above (runtime and client in the "
            "measuring process); with N, N - 1 more processes each run a `WorkflowRuntime` "
            "with the same workflows on the same database, all listening before the clock "
            "starts. The measuring process schedules the workflows and waits for them. "
            f"“{TIMES}”: steps/s with N processes ÷ with 1, the median of per-round ratios. "
            "The machine's cores are shared by every process and the server, so this "
            "shows what extra workers cost or gain here, not a cluster's scaling.",
            "",
        ]
    by_reason: dict[str, list[str]] = {}
    for scenario, reason in (data.get("skipped") or {}).items():
        by_reason.setdefault(reason, []).append(scenario)
    for reason, scenarios in by_reason.items():
        lines += [f"_{', '.join(scenarios)} skipped: {reason}_", ""]
    return lines


def block(
    data: dict[str, Any],
    rows: list[Row],
    chart_name: str | None,
    scale_rows: list[ScaleRow] | None = None,
) -> str:
    raw = data["raw_sqlite"]
    dbos_pragmas = data.get("dbos_sqlite_pragmas")
    lines = [
        f"_Measured {data['finished_at']} in {data['mode']} mode: "
        f"{data['runs']} run(s) per system per scenario; medians shown._",
        "",
        table(rows),
        "Ratio: how many times better outlast is (throughput: outlast ÷ DBOS; time, "
        "latency and memory: DBOS ÷ outlast), the median of per-round ratios. "
        "“—” in *met*: no verdict (the run did not use the issue's sizes, or did not complete).",
        "",
        raw_table(raw),
    ]
    if dbos_pragmas:
        lines += [f"DBOS ran with SQLite `{dbos_pragmas}`.", ""]
    lines += postgres_lines(data, scale_rows or [])
    if chart_name:
        lines += [f"![outlast vs DBOS, from this run]({chart_name})", ""]
    lines += [
        f"**Machine:** {machine.one_line(data['machine'])}.  ",
        f"**Versions:** outlast {data['machine']['outlast']}, "
        f"DBOS Transact {data['machine']['dbos']}.  ",
        f"**Command:** `{data['command']}`",
    ]
    return "\n".join(lines).rstrip() + "\n"


def update_markdown(path: Path, generated: str) -> None:
    text = path.read_text() if path.exists() else TEMPLATE
    replacement = f"{START}\n{generated}{END}"
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: replacement, text, count=1)
    else:
        text = text.rstrip() + "\n\n" + replacement + "\n"
    path.write_text(text)


def write_all(
    out_dir: Path, data: dict[str, Any], rows: list[Row], scale_rows: list[ScaleRow]
) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / "benchmarks.json",
        "markdown": out_dir / "benchmarks.md",
        "chart": out_dir / "benchmarks.png",
    }
    write_json(paths["json"], data)
    chart_name: str | None = paths["chart"].name
    try:
        from bench import chart

        chart.draw(
            paths["chart"],
            rows,
            data["raw_sqlite"],
            data["finished_at"],
            scale_rows,
            data.get("raw_postgres"),
        )
    except ImportError as exc:  # matplotlib missing outside .bench-venv
        print(f"chart skipped: {exc}")
        chart_name = None
    update_markdown(paths["markdown"], block(data, rows, chart_name, scale_rows))
    return paths


def raw_from(results: dict[str, list[dict[str, Any]]]) -> dict[str, Any] | None:
    return summary.raw_medians(results.get("RAW", []))
