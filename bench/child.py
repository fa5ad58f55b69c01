"""One measurement in a fresh process: ``python -m bench.child SYSTEM SCENARIO DB SIZES OUT``.

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

MODULES = {"outlast": "bench.outlast_impl", "dbos": "bench.dbos_impl", "sqlite": "bench.raw_sqlite"}
FUNCTIONS = {
    "S1": "s1_sequential",
    "S2": "s2_throughput",
    "S3": "s3_fanout",
    "S4": "s4_long_history",
    "S5": "s5_idle",
    "S6": "s6_latency",
    "RAW": "measure",
}


def run(system: str, scenario: str, db_path: str, sizes: Sizes) -> dict[str, Any]:
    module = importlib.import_module(MODULES[system])
    fn = getattr(module, FUNCTIONS[scenario])
    figures: dict[str, Any] = fn(db_path, sizes)
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
