"""Writes a run's results: JSON, the generated block of benchmarks.md, and the chart."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bench import machine, summary
from bench.summary import Row

START = "<!-- bench:results:start -->"
END = "<!-- bench:results:end -->"

TEMPLATE = f"""# Benchmarks

outlast against DBOS Transact (the embedded, SQLite-backed peer a Python user
would otherwise pick) and against the raw commit rate of SQLite on the same
disk. Everything between the `bench:results` markers is written by
`make bench`; the prose around them is edited by hand.

{START}
{END}

## How it is measured

- Each scenario runs outlast and DBOS alternately in the same invocation, each
  run in a fresh subprocess on a fresh SQLite file in the same directory.
- Durable defaults on both sides: outlast with WAL and `synchronous=FULL`;
  DBOS with its own defaults (the SQLite pragmas it ran with are in the JSON).
- Every figure is the median of the runs; each ratio is the median of the
  per-round ratios (one outlast run and one DBOS run back to back).
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

## Running it

```
make bench                          # full sizes, 3 runs, writes docs/benchmarks.{{md,png,json}}
make bench QUICK=1 RUNS=1           # smoke run with small sizes, writes bench/out/
make bench SCENARIOS=S1,S2 RUNS=5   # a subset, more runs
make bench SIZES=s3_fanout_dbos=10000   # any size in bench/config.py, e.g. DBOS at 10,000
```

`make bench` builds its own virtual env, `.bench-venv`, with outlast installed
from this checkout and the pinned peers from `bench/requirements.txt`. A run
prints each measurement as it goes and exits non-zero only if a run failed;
it never judges a figure. A full run takes about 35 minutes on a 2-core
machine, most of it DBOS's S2 and S5; a quick run about 3.

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


def block(data: dict[str, Any], rows: list[Row], chart_name: str | None) -> str:
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


def write_all(out_dir: Path, data: dict[str, Any], rows: list[Row]) -> dict[str, Path]:
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

        chart.draw(paths["chart"], rows, data["raw_sqlite"], data["finished_at"])
    except ImportError as exc:  # matplotlib missing outside .bench-venv
        print(f"chart skipped: {exc}")
        chart_name = None
    update_markdown(paths["markdown"], block(data, rows, chart_name))
    return paths


def raw_from(results: dict[str, list[dict[str, Any]]]) -> dict[str, Any] | None:
    return summary.raw_medians(results.get("RAW", []))
