"""Runs the benchmark suite: ``python -m bench`` (or ``make bench``).

Options (arguments, or the environment variables ``make bench`` passes on)::

    --scenarios S1,S2   SCENARIOS=S1,S2     which scenarios (default all six)
    --systems dbos      SYSTEMS=dbos        which engines (default outlast,dbos)
    --runs 5            RUNS=5              runs per system per scenario (default 3)
    --quick             QUICK=1             small sizes for a smoke run; writes to bench/out/
    --sizes k=v,...     SIZES=k=v,...       override sizes (see bench/config.py: Sizes)
    --out-dir DIR       BENCH_OUT=DIR       where the JSON, markdown and chart go (default docs/)
    --work-dir DIR      BENCH_DIR=DIR       where the SQLite files go (default a new temp dir)
    --keep              BENCH_KEEP=1        keep the SQLite files and logs

Raw SQLite is measured in every invocation. The exit status is non-zero when a
run failed (an error, not a slow figure: benchmarks never assert timing).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import config, machine, report, summary
from bench.child import sizes_arg
from bench.config import REPO, Settings
from bench.summary import TIMES, num

Record = dict[str, Any]
SYNCHRONOUS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


def _headline(scenario: str, m: dict[str, Any]) -> str:
    """One line per run on the console, so a long invocation shows progress."""
    if scenario == "RAW":
        return (
            f"WAL+FULL {m['wal_full_commits_per_s']:,.0f}/s, "
            f"WAL+NORMAL {m['wal_normal_commits_per_s']:,.0f}/s, "
            f"DELETE+FULL {m['delete_full_commits_per_s']:,.0f}/s"
        )
    if scenario in ("S1", "S2"):
        return f"{m['steps_per_s']:,.0f} steps/s ({m['elapsed_s']:.2f} s)"
    if scenario == "S3":
        return f"{m['fanout']:,.0f}-way fan-out in {m['elapsed_s']:.2f} s"
    if scenario == "S4":
        return (
            f"{m['steps_per_s']:,.0f} steps/s; {num(m['first_ms_per_step'])} → "
            f"{num(m['last_ms_per_step'])} ms/step ({TIMES}{m['growth']:.2f})"
        )
    if scenario == "S5":
        return (
            f"{m['idle']:,.0f} idle: {m['rss_idle_mb']:.0f} MB; raise→complete "
            f"p50 {num(m['p50_ms'])} ms, p99 {num(m['p99_ms'])} ms"
        )
    return f"p50 {num(m['p50_ms'])} ms, p99 {num(m['p99_ms'])} ms"


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def run_one(system: str, scenario: str, round_: int, settings: Settings, work: Path) -> Record:
    stem = f"{scenario.lower()}-{system}-r{round_}"
    db, out, log = (work / f"{stem}{ext}" for ext in (".db", ".json", ".log"))
    cmd = [sys.executable, "-m", "bench.child", system, scenario, str(db)]
    cmd += [sizes_arg(settings.sizes), str(out)]
    result: dict[str, Any]
    with log.open("w") as fh:
        try:
            proc = subprocess.run(
                cmd, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT, timeout=settings.timeout_s
            )
            returncode: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            returncode = None
    if out.exists():
        result = json.loads(out.read_text())
    elif returncode is None:
        result = {"ok": False, "error": f"timed out after {settings.timeout_s:.0f} s"}
    else:
        result = {"ok": False, "error": f"exited with status {returncode} and no result"}
    record: Record = {"scenario": scenario, "system": system, "round": round_, **result}

    label = f"{scenario} round {round_ + 1}/{settings.runs} {system:>7}"
    if record["ok"]:
        print(f"{label}: {_headline(scenario, record['metrics'])}", flush=True)
    else:
        print(f"{label}: FAILED: {record['error']}\n  log {log}:\n{_tail(log)}", flush=True)
    if not settings.keep:
        for path in work.glob(f"{stem}*.db*"):
            path.unlink()
    return record


def run_all(settings: Settings, work: Path) -> dict[str, list[Record]]:
    results: dict[str, list[Record]] = {
        "RAW": [run_one("sqlite", "RAW", r, settings, work) for r in range(settings.runs)]
    }
    for scenario in settings.scenarios:
        records: list[Record] = []
        for r in range(settings.runs):
            # Alternate who goes first, so neither system always meets a warmer
            # (or more tired) machine.
            order = settings.systems if r % 2 == 0 else tuple(reversed(settings.systems))
            for system in order:
                records.append(run_one(system, scenario, r, settings, work))
        results[scenario] = records
    return results


def _dbos_pragmas(results: dict[str, list[Record]]) -> str | None:
    for records in results.values():
        for r in records:
            m = r.get("metrics") or {}
            if r["system"] == "dbos" and "sqlite_journal_mode" in m:
                sync = SYNCHRONOUS.get(int(m["sqlite_synchronous"]), m["sqlite_synchronous"])
                return f"journal_mode={m['sqlite_journal_mode']}, synchronous={sync}"
    return None


def main(argv: list[str] | None = None) -> int:
    settings = config.parse(sys.argv[1:] if argv is None else argv)
    own_work_dir = settings.work_dir is None
    work = settings.work_dir or Path(tempfile.mkdtemp(prefix="outlast-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    described = machine.describe(work)
    print(f"outlast bench ({settings.mode}): {machine.one_line(described)}")
    print(
        f"scenarios {','.join(settings.scenarios)}; systems {','.join(settings.systems)}; "
        f"{settings.runs} run(s) each; SQLite files in {work}",
        flush=True,
    )

    results = run_all(settings, work)
    rows = summary.build_rows(results, settings.sizes)
    data: dict[str, Any] = {
        "schema": 1,
        "mode": settings.mode,
        "runs": settings.runs,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": settings.command,
        "machine": described,
        "sizes": json.loads(sizes_arg(settings.sizes)),
        "scenarios": list(settings.scenarios),
        "systems": list(settings.systems),
        "raw_sqlite": report.raw_from(results),
        "dbos_sqlite_pragmas": _dbos_pragmas(results),
        "medians": {
            scenario: {s: summary.medians(records, s) for s in ("outlast", "dbos", "sqlite")}
            for scenario, records in results.items()
        },
        "rows": [row.as_dict() for row in rows],
        "records": results,
    }
    paths = report.write_all(settings.out_dir, data, rows)

    print()
    print(report.table(rows))
    print(report.raw_table(data["raw_sqlite"]))
    print("written: " + ", ".join(str(p) for p in paths.values()))
    failed = [r for records in results.values() for r in records if not r["ok"]]
    if own_work_dir and not settings.keep and not failed:
        shutil.rmtree(work, ignore_errors=True)
    elif failed:
        print(f"{len(failed)} run(s) failed; logs kept in {work}")
    return 1 if failed else 0
