"""One measurement in a fresh process: ``python -m bench.child SYSTEM SCENARIO DB SIZES OUT``.

DB is a SQLite path, or a PostgreSQL URL for the PG scenarios. SYSTEM is
``outlast``, ``dbos``, ``sqlite`` or ``postgres`` (the raw commit rates), or
``outlast-wN``: outlast with N worker processes (this one and N - 1 more).
The parent reads the JSON written to OUT; stdout and stderr are only logs.
Importing a system's module only here keeps outlast and DBOS out of each
other's processes.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bench.config import Sizes

MODULES = {
    "outlast": "bench.outlast_impl",
    "dbos": "bench.dbos_impl",
    "sqlite": "bench.raw_sqlite",
    "postgres": "bench.raw_postgres",
}
# Scenarios whose code lives in a module of its own rather than the system's.
SCENARIO_MODULES = {"HTTP": "bench.http_latency"}
FUNCTIONS = {
    "S1": "s1_sequential",
    "S2": "s2_throughput",
    "S1PG": "s1_sequential",
    "S2PG": "s2_throughput",
    "S3": "s3_fanout",
    "S4": "s4_long_history",
    "S5": "s5_idle",
    "S6": "s6_latency",
    "HTTP": "http_latency",
    "RAW": "measure",
    "RAWPG": "measure",
}


def workers_of(system: str) -> tuple[str, int]:
    """``outlast-w3`` -> ("outlast", 3); any other system runs in one process."""
    base, sep, count = system.partition("-w")
    return (base, int(count)) if sep else (system, 1)


def run(system: str, scenario: str, db_path: str, sizes: Sizes) -> dict[str, Any]:
    base, workers = workers_of(system)
    module = importlib.import_module(SCENARIO_MODULES.get(scenario, MODULES[base]))
    # In a scenario, raw SQLite is the commit rate measured beside outlast's run.
    name = "beside" if base == "sqlite" and scenario != "RAW" else FUNCTIONS[scenario]
    fn = getattr(module, name)
    figures: dict[str, Any] = (
        fn(db_path, sizes, workers=workers) if workers > 1 else fn(db_path, sizes)
    )
    return figures


def main(argv: list[str]) -> int:
    system, scenario, db_path, sizes_json, out = argv
    sizes = Sizes(**json.loads(sizes_json))
    started = time.perf_counter()
    result: dict[str, Any]
    try:
        result = {"ok": True, "metrics": run(system, scenario, db_path, sizes)}
    except BaseException as exc:  # reported to the parent, which carries on
        traceback.print_exc()
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    result["wall_s"] = time.perf_counter() - started
    Path(out).write_text(json.dumps(result))
    return 0 if result["ok"] else 1


def sizes_arg(sizes: Sizes) -> str:
    return json.dumps(dataclasses.asdict(sizes))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
