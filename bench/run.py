"""Runs the benchmark suite: ``python -m bench`` (or ``make bench``).

Options (arguments, or the environment variables ``make bench`` passes on)::

    --scenarios S1,S2   SCENARIOS=S1,S2     which scenarios (default all: S1-S6, S1PG, S2PG)
    --systems dbos      SYSTEMS=dbos        which engines (default outlast,dbos)
    --runs 5            RUNS=5              runs per system per scenario (default 3)
    --quick             QUICK=1             small sizes for a smoke run; writes to bench/out/
    --sizes k=v,...     SIZES=k=v,...       override sizes (see bench/config.py: Sizes)
    --out-dir DIR       BENCH_OUT=DIR       where the JSON, markdown and chart go (default docs/)
    --work-dir DIR      BENCH_DIR=DIR       where the SQLite files go (default a new temp dir)
    --keep              BENCH_KEEP=1        keep the SQLite files, PostgreSQL databases and logs
    --merge             BENCH_MERGE=1       keep the earlier results of scenarios not run now
    --pg-url URL        BENCH_PG=URL        PostgreSQL server for S1PG/S2PG (its maintenance
                                            database; default postgresql://postgres@127.0.0.1:5432/postgres)
    --pg-workers 1,2,3  PG_WORKERS=1,2,3    outlast worker-process counts on PostgreSQL

S1PG and S2PG are S1 and S2 with both systems on PostgreSQL, each run on a fresh
database of the same server (created and dropped by this runner), plus outlast
with 2 and 3 worker processes. Without a reachable server they are skipped
with a message. Raw SQLite is measured in every invocation, raw PostgreSQL in
every one that runs a PG scenario. The exit status is non-zero when a run
failed (an error, not a slow figure: benchmarks never assert timing).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import config, machine, pg, report, summary
from bench.child import sizes_arg
from bench.config import PG_SCENARIOS, REPO, Settings
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
    if "wal_full_commits_per_s" in m:
        return f"raw WAL+FULL {m['wal_full_commits_per_s']:,.0f} commits/s"
    if scenario == "RAWPG":
        return f"{m['commits_per_s']:,.0f} commits/s"
    if scenario in ("S1", "S2", "S1PG", "S2PG"):
        split = f"; steps split {m['split']} %" if "split" in m else ""
        return f"{m['steps_per_s']:,.0f} steps/s ({m['elapsed_s']:.2f} s{split})"
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


def _run_child(cmd: list[str], log: Path, out: Path, timeout_s: float) -> dict[str, Any]:
    with log.open("w") as fh:
        try:
            proc = subprocess.run(
                cmd, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout_s
            )
            returncode: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            returncode = None
    if out.exists():
        result: dict[str, Any] = json.loads(out.read_text())
        return result
    if returncode is None:
        return {"ok": False, "error": f"timed out after {timeout_s:.0f} s"}
    return {"ok": False, "error": f"exited with status {returncode} and no result"}


def run_one(system: str, scenario: str, round_: int, settings: Settings, work: Path) -> Record:
    stem = f"{scenario.lower()}-{system}-r{round_}"
    db_file, out, log = (work / f"{stem}{ext}" for ext in (".db", ".json", ".log"))
    on_pg = scenario in PG_SCENARIOS or scenario == "RAWPG"
    db: str | None = str(db_file)
    result: dict[str, Any]
    if on_pg:
        try:
            db = pg.create_database(settings.pg_url, stem)
        except Exception as e:
            db = None
            result = {"ok": False, "error": f"cannot create a database: {e}"}
    if db is not None:
        cmd = [sys.executable, "-m", "bench.child", system, scenario, db]
        cmd += [sizes_arg(settings.sizes), str(out)]
        try:
            result = _run_child(cmd, log, out, settings.timeout_s)
        finally:
            if on_pg and not settings.keep:
                try:
                    pg.drop_database(settings.pg_url, db)
                except Exception as e:  # the figures stand; say what was left behind
                    print(f"could not drop {pg.redact(db)}: {e}", flush=True)
    record: Record = {"scenario": scenario, "system": system, "round": round_, **result}

    label = f"{scenario} round {round_ + 1}/{settings.runs} {system:>10}"
    if record["ok"]:
        print(f"{label}: {_headline(scenario, record['metrics'])}", flush=True)
    else:
        print(f"{label}: FAILED: {record['error']}\n  log {log}:\n{_tail(log)}", flush=True)
    if not settings.keep:
        for path in work.glob(f"{stem}*.db*"):
            path.unlink()
    return record


def run_all(settings: Settings, work: Path, skipped: dict[str, str]) -> dict[str, list[Record]]:
    """Every run, by scenario. PG scenarios that cannot run land in ``skipped``."""
    results: dict[str, list[Record]] = {
        "RAW": [run_one("sqlite", "RAW", r, settings, work) for r in range(settings.runs)]
    }
    if settings.pg_scenarios:
        reason = pg.unreachable(settings.pg_url)
        if reason is None:
            results["RAWPG"] = [
                run_one("postgres", "RAWPG", r, settings, work) for r in range(settings.runs)
            ]
        else:
            for scenario in settings.pg_scenarios:
                skipped[scenario] = reason
            print(f"skipping {', '.join(settings.pg_scenarios)}: {reason}", flush=True)
    for scenario in settings.scenarios:
        if scenario in skipped:
            continue
        systems = settings.systems_for(scenario)
        records: list[Record] = []
        for r in range(settings.runs):
            # Alternate who goes first, so neither system always meets a warmer
            # (or more tired) machine.
            order = systems if r % 2 == 0 else tuple(reversed(systems))
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


def _earlier(settings: Settings) -> dict[str, Any] | None:
    """The previous results in the output folder, to merge with this run's."""
    path = settings.out_dir / "benchmarks.json"
    if not path.exists():
        print(f"nothing to merge: {path} does not exist", flush=True)
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _postgres(settings: Settings) -> dict[str, Any] | None:
    """The PostgreSQL server's version and settings, when a PG scenario is selected."""
    if not settings.pg_scenarios:
        return None
    if pg.unreachable(settings.pg_url) is not None:
        return None
    server = pg.describe(settings.pg_url)
    print(pg.one_line(server), flush=True)
    return server


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
    postgres = _postgres(settings)

    skipped: dict[str, str] = {}
    results = run_all(settings, work, skipped)
    earlier = _earlier(settings) if settings.merge else None
    if earlier is not None:
        if not set(settings.scenarios) - set(config.PG_SCENARIOS):
            # Only PostgreSQL ran now: the SQLite figures kept from before must be
            # judged against the raw commit rate of their own run.
            results["RAW"] = earlier["records"]["RAW"]
        for scenario, records in earlier["records"].items():
            results.setdefault(scenario, records)
        settings = dataclasses.replace(
            settings,
            scenarios=tuple(dict.fromkeys([*earlier["scenarios"], *settings.scenarios])),
            command=f"{earlier['command']}; then {settings.command}",
        )
    rows = summary.build_rows(results, settings.sizes)
    scale_rows = summary.build_scale_rows(results, settings.sizes, settings.pg_workers)
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
        "postgres": postgres,
        "raw_postgres": summary.medians(results.get("RAWPG", []), "postgres"),
        "skipped": skipped,
        "pg_workers": list(settings.pg_workers),
        "medians": {
            scenario: {
                s: summary.medians(records, s)
                for s in dict.fromkeys(
                    ["outlast", "dbos", "sqlite", *(r["system"] for r in records)]
                )
            }
            for scenario, records in results.items()
        },
        "rows": [row.as_dict() for row in rows],
        "scale_rows": [row.as_dict() for row in scale_rows],
        "records": results,
    }
    paths = report.write_all(settings.out_dir, data, rows, scale_rows)

    print()
    print(report.table(rows))
    if scale_rows:
        print(report.scale_table(scale_rows))
    print(report.raw_table(data["raw_sqlite"]))
    if skipped:
        print(f"{', '.join(skipped)} skipped: {next(iter(skipped.values()))}")
    print("written: " + ", ".join(str(p) for p in paths.values()))
    failed = [r for records in results.values() for r in records if not r["ok"]]
    if own_work_dir and not settings.keep and not failed:
        shutil.rmtree(work, ignore_errors=True)
    elif failed:
        print(f"{len(failed)} run(s) failed; logs kept in {work}")
    return 1 if failed else 0
