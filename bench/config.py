"""Scenario sizes and run settings, from the command line or the environment."""

from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

# S1PG and S2PG are S1 and S2 on PostgreSQL: both systems on fresh databases
# of one server, and outlast again with more worker processes (PG_WORKERS).
# HTTP is the latency of `outlast serve` (outlast only: DBOS has no HTTP API).
SCENARIOS: tuple[str, ...] = ("S1", "S2", "S3", "S4", "S5", "S6", "HTTP", "S1PG", "S2PG")
ONLY_OUTLAST: frozenset[str] = frozenset({"HTTP"})
PG_SCENARIOS: frozenset[str] = frozenset({"S1PG", "S2PG"})
SYSTEMS: tuple[str, ...] = ("outlast", "dbos")
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_PG_WORKERS: tuple[int, ...] = (1, 2, 3)
REPO = Path(__file__).resolve().parent.parent
# Activities per workflow in S1 and S2, as the issue specifies.
CHAIN_LENGTH = 10


@dataclass(frozen=True)
class Sizes:
    """How big each scenario is. The defaults are the sizes the issue specifies.

    DBOS gets its own size where running it at the issue's size would take many
    minutes per run (the issue allows this for the fan-out; the report says so).
    """

    s1_workflows: int = 200
    s2_workflows: int = 1_000
    s3_fanout: int = 10_000
    s3_fanout_dbos: int = 500
    s4_steps: int = 10_000
    s4_window: int = 1_000
    s5_idle: int = 100_000
    s5_idle_dbos: int = 2_000
    s5_raised: int = 1_000
    s5_raise_concurrency: int = 10
    s6_samples: int = 200
    s6_gap_ms: int = 20
    http_requests: int = 2_000
    raw_full_commits: int = 4_000
    raw_normal_commits: int = 40_000
    raw_delete_commits: int = 1_000
    raw_pg_commits: int = 2_000

    def with_overrides(self, spec: str) -> Sizes:
        """Apply ``name=value,name=value`` overrides (e.g. ``s3_fanout_dbos=10000``)."""
        known = {f.name for f in dataclasses.fields(self)}
        changes: dict[str, int] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            name, sep, value = item.partition("=")
            if not sep or name not in known:
                raise SystemExit(f"bad size override {item!r}; known sizes: {sorted(known)}")
            changes[name] = int(value.replace("_", ""))
        return dataclasses.replace(self, **changes)


FULL = Sizes()
QUICK = Sizes(
    s1_workflows=20,
    s2_workflows=100,
    s3_fanout=500,
    s3_fanout_dbos=50,
    s4_steps=1_000,
    s4_window=100,
    s5_idle=1_000,
    s5_idle_dbos=200,
    s5_raised=100,
    s6_samples=30,
    http_requests=200,
    raw_full_commits=500,
    raw_normal_commits=5_000,
    raw_delete_commits=200,
    raw_pg_commits=300,
)


@dataclass(frozen=True)
class Settings:
    scenarios: tuple[str, ...]
    systems: tuple[str, ...]
    runs: int
    quick: bool
    sizes: Sizes
    out_dir: Path
    work_dir: Path | None
    keep: bool
    timeout_s: float
    command: str
    argv: list[str] = field(default_factory=list)
    # The PostgreSQL server for the PG scenarios: a URL to its maintenance
    # database, where each run's own database is created and dropped.
    pg_url: str = DEFAULT_PG_URL
    # Worker-process counts outlast runs the PG scenarios with (1 is its column
    # beside DBOS; more are extra processes on the same database).
    pg_workers: tuple[int, ...] = DEFAULT_PG_WORKERS
    # Keep the earlier results (in the output JSON) of scenarios this run leaves out,
    # so the report can be completed a part at a time.
    merge: bool = False

    @property
    def mode(self) -> str:
        return "quick" if self.quick else "full"

    @property
    def pg_scenarios(self) -> tuple[str, ...]:
        return tuple(s for s in self.scenarios if s in PG_SCENARIOS)

    def systems_for(self, scenario: str) -> tuple[str, ...]:
        """Who runs a scenario: the selected systems; with outlast selected, on
        PostgreSQL also ``outlast-wN`` for each worker count N > 1, and in S2 also
        ``sqlite``, the raw commit rate beside each outlast run."""
        if scenario in ONLY_OUTLAST:
            return tuple(s for s in self.systems if s == "outlast")
        if "outlast" not in self.systems:
            return self.systems
        if scenario == "S2":
            # The raw commit rate, measured right before (or, every other round,
            # right after) outlast's run: S2 is judged against it round by round.
            return ("sqlite", *self.systems)
        if scenario not in PG_SCENARIOS:
            return self.systems
        return self.systems + tuple(f"outlast-w{n}" for n in self.pg_workers if n > 1)


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def _truthy(value: str) -> bool:
    return value.lower() in {"1", "true", "yes", "on"}


def _csv(value: str, allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    items = tuple(part.strip() for part in value.split(",") if part.strip())
    normalised = tuple(item.upper() if what == "scenario" else item.lower() for item in items)
    unknown = [item for item in normalised if item not in allowed]
    if unknown:
        raise SystemExit(f"unknown {what}(s) {unknown}; choose from {list(allowed)}")
    # Keep the canonical order so runs are comparable whatever order was typed.
    return tuple(item for item in allowed if item in normalised)


def parse(argv: list[str]) -> Settings:
    """Arguments win over environment variables (which is how ``make bench`` passes them)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark outlast against DBOS Transact and raw SQLite.",
    )
    parser.add_argument("--scenarios", default=_env("SCENARIOS"), help="e.g. S1,S2 (default all)")
    parser.add_argument("--systems", default=_env("SYSTEMS"), help="outlast,dbos (default both)")
    parser.add_argument("--runs", type=int, default=None, help="runs per system (default 3)")
    parser.add_argument(
        "--quick", action="store_true", default=_truthy(_env("QUICK")), help="small sizes"
    )
    parser.add_argument(
        "--sizes", default=_env("SIZES"), help="overrides, e.g. s5_idle=20000,s3_fanout_dbos=10000"
    )
    parser.add_argument(
        "--out-dir", default=_env("BENCH_OUT"), help="default docs/ (quick: bench/out/)"
    )
    parser.add_argument("--work-dir", default=_env("BENCH_DIR"), help="where the SQLite files go")
    parser.add_argument(
        "--keep", action="store_true", default=_truthy(_env("BENCH_KEEP")), help="keep files"
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        default=_truthy(_env("BENCH_MERGE")),
        help="keep earlier results of the scenarios not run this time",
    )
    parser.add_argument("--timeout", type=float, default=None, help="seconds per subprocess")
    parser.add_argument(
        "--pg-url",
        default=_env("BENCH_PG") or DEFAULT_PG_URL,
        help="PostgreSQL server for S1PG/S2PG (its maintenance database)",
    )
    parser.add_argument(
        "--pg-workers",
        default=_env("PG_WORKERS") or ",".join(map(str, DEFAULT_PG_WORKERS)),
        help="outlast worker-process counts on PostgreSQL (default 1,2,3)",
    )
    args = parser.parse_args(argv)

    runs = args.runs if args.runs is not None else int(_env("RUNS") or 3)
    if runs < 1:
        raise SystemExit("--runs must be at least 1")
    sizes = (QUICK if args.quick else FULL).with_overrides(args.sizes)
    default_out = REPO / ("bench/out" if args.quick else "docs")
    return Settings(
        scenarios=_csv(args.scenarios, SCENARIOS, "scenario") if args.scenarios else SCENARIOS,
        systems=_csv(args.systems, SYSTEMS, "system") if args.systems else SYSTEMS,
        runs=runs,
        quick=args.quick,
        sizes=sizes,
        out_dir=Path(args.out_dir).resolve() if args.out_dir else default_out,
        work_dir=Path(args.work_dir).resolve() if args.work_dir else None,
        keep=args.keep,
        merge=args.merge,
        timeout_s=args.timeout or (600.0 if args.quick else 3600.0),
        command=_env("BENCH_COMMAND") or " ".join(["python -m bench", *argv]).strip(),
        argv=list(argv),
        pg_url=args.pg_url,
        pg_workers=_worker_counts(args.pg_workers),
    )


def _worker_counts(value: str) -> tuple[int, ...]:
    try:
        counts = {int(part) for part in value.split(",") if part.strip()}
    except ValueError:
        raise SystemExit(f"bad worker counts {value!r}; e.g. 1,2,3") from None
    if any(n < 1 for n in counts):
        raise SystemExit("worker counts must be at least 1")
    # 1 is always run: it is outlast's column beside DBOS, and the base of the speed-ups.
    return tuple(sorted(counts | {1}))
