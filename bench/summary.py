"""From raw run records to the report's rows: medians, paired ratios, targets.

Ratios are always "how many times better outlast is": outlast ÷ DBOS for
throughput, DBOS ÷ outlast for times, latencies and memory. Each ratio is the
median of per-round ratios, where a round is one outlast run and one DBOS run
made back to back, so drift on a shared machine cancels out. The PostgreSQL
scale-out speed-ups (N worker processes ÷ 1) are paired by round the same way.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from bench.config import CHAIN_LENGTH, FULL, Sizes

Record = dict[str, Any]
# Spelled by name: ruff (RUF001) flags the literal character as confusable with "x".
TIMES = "\N{MULTIPLICATION SIGN}"


@dataclass(frozen=True)
class Row:
    scenario: str
    title: str
    outlast: str
    dbos: str
    ratio: str
    target: str
    met: bool | None
    # Numbers behind the cells, for the chart and the JSON.
    unit: str
    higher_is_better: bool
    outlast_value: float | None
    dbos_value: float | None
    target_value: float | None
    # Bar labels; they carry the size when the two systems ran different sizes.
    outlast_label: str = "outlast"
    dbos_label: str = "DBOS"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def medians(records: list[Record], system: str) -> dict[str, Any] | None:
    """Metric-wise median over a system's successful runs (text values from the first)."""
    runs = [r["metrics"] for r in records if r["system"] == system and r["ok"]]
    if not runs:
        return None
    out: dict[str, Any] = {}
    for key, value in runs[0].items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = statistics.median(float(run[key]) for run in runs if key in run)
        else:
            out[key] = value
    out["runs"] = len(runs)
    return out


def paired_ratio(
    records: list[Record],
    metric: str,
    higher_is_better: bool,
    ours: str = "outlast",
    theirs: str = "dbos",
    their_metric: str | None = None,
) -> float | None:
    """Median over rounds of ``ours`` ÷ ``theirs`` (inverted when lower is better);
    ``their_metric`` when ``theirs`` reports the figure under another name."""
    names = {ours: metric, theirs: their_metric or metric}
    by_round: dict[int, dict[str, float]] = {}
    for r in records:
        key = names.get(r["system"])
        if r["ok"] and key in r["metrics"]:
            by_round.setdefault(r["round"], {})[r["system"]] = float(r["metrics"][key])
    ratios = []
    for pair in by_round.values():
        o, d = pair.get(ours), pair.get(theirs)
        if o and d:
            ratios.append(o / d if higher_is_better else d / o)
    return statistics.median(ratios) if ratios else None


def num(x: float) -> str:
    """Whole numbers with thousands separators from 100 up; 3 or so significant digits below."""
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _ratio(x: float | None, note: str = "") -> str:
    return "—" if x is None else f"{num(x)}{TIMES}{note}"


def _met(ok: bool | None, issue_sized: bool) -> bool | None:
    # Targets are stated for the issue's sizes; other sizes get no verdict.
    return ok if issue_sized else None


def _value(m: dict[str, Any] | None, key: str) -> float | None:
    return None if m is None else float(m[key])


class _Sides:
    """One scenario's records, with each system's medians and table cells."""

    def __init__(self, records: list[Record]) -> None:
        self.records = records
        self.o = medians(records, "outlast")
        self.d = medians(records, "dbos")

    def ratio(self, metric: str, higher_is_better: bool) -> float | None:
        return paired_ratio(self.records, metric, higher_is_better)

    def cell(self, system: str, render: Callable[[dict[str, Any]], str]) -> str:
        ran = [r for r in self.records if r["system"] == system]
        m = self.o if system == "outlast" else self.d
        if not ran:
            return "not run"
        if m is None:
            return f"error: {ran[0].get('error', '?')[:80]}"
        text = render(m)
        if m["runs"] < len(ran):
            text += f" ({m['runs']} of {len(ran)} runs ok)"
        return text


def _steps(m: dict[str, Any]) -> str:
    return f"{num(m['steps_per_s'])} steps/s"


def _latency(m: dict[str, Any]) -> str:
    return f"p50 {num(m['p50_ms'])} ms, p99 {num(m['p99_ms'])} ms"


def s1_s2_rows(
    scenario: str, records: list[Record], sizes: Sizes, raw_full: float | None
) -> list[Row]:
    sides = _Sides(records)
    ratio = sides.ratio("steps_per_s", higher_is_better=True)
    dbos_rate = _value(sides.d, "steps_per_s")
    over_raw: float | None = None  # S2: outlast steps/s ÷ raw commits/s, paired by round
    if scenario == "S1":
        n, issue_n = sizes.s1_workflows, FULL.s1_workflows
        title = f"S1 sequential: {n:,} workflows {TIMES} {CHAIN_LENGTH} steps, one at a time"
        target = f"≥ 5{TIMES} DBOS steps/s"
        ok = None if ratio is None else ratio >= 5
        target_value = None if dbos_rate is None else 5 * dbos_rate
    else:
        n, issue_n = sizes.s2_workflows, FULL.s2_workflows
        title = f"S2 throughput: {n:,} workflows {TIMES} {CHAIN_LENGTH} steps, all at once"
        beside = medians(records, "sqlite")
        if beside is not None:
            # Raw commits measured next to each outlast run; judged round by round.
            raw_full = float(beside["wal_full_commits_per_s"])
            over_raw = paired_ratio(
                records, "steps_per_s", True, theirs="sqlite", their_metric="wal_full_commits_per_s"
            )
            raw_text = f"raw WAL+FULL commits/s beside it ({num(raw_full)})"
        else:  # records from before the raw rate was measured beside each run
            if raw_full is not None and sides.o is not None:
                over_raw = sides.o["steps_per_s"] / raw_full
            raw_text = "raw WAL+FULL commits/s" + (f" ({num(raw_full)})" if raw_full else "")
        target = f"≥ 10{TIMES} DBOS steps/s and > {raw_text}"
        ok = None
        if ratio is not None and over_raw is not None:
            ok = ratio >= 10 and over_raw > 1
        # The chart's line is the higher of the two bars outlast has to clear.
        bars = [v for v in (raw_full, None if dbos_rate is None else 10 * dbos_rate) if v]
        target_value = max(bars) if bars else None

    def outlast_cell(m: dict[str, Any]) -> str:
        text = _steps(m)
        if scenario == "S2" and over_raw is not None:
            text += f" ({num(over_raw)}{TIMES} the raw commit rate)"
        return text

    return [
        Row(
            scenario=scenario,
            title=title,
            outlast=sides.cell("outlast", outlast_cell),
            dbos=sides.cell("dbos", _steps),
            ratio=_ratio(ratio),
            target=target,
            met=_met(ok, n == issue_n),
            unit="steps/s",
            higher_is_better=True,
            outlast_value=_value(sides.o, "steps_per_s"),
            dbos_value=dbos_rate,
            target_value=target_value,
        )
    ]


def _steps_scheduled(m: dict[str, Any]) -> str:
    """steps/s, and how much of the run the one client spent starting workflows:
    on PostgreSQL each start is a transaction of its own, so it can dominate."""
    return f"{_steps(m)} (starting them: {num(m['schedule_s'])} of {num(m['elapsed_s'])} s)"


def pg_rows(scenario: str, records: list[Record], sizes: Sizes) -> list[Row]:
    """S1 or S2 on PostgreSQL: outlast in one process beside DBOS, as on SQLite.
    The issues set no target here; the row is for the comparison."""
    sides = _Sides(records)
    render = _steps if scenario == "S1PG" else _steps_scheduled
    if scenario == "S1PG":
        title = (
            f"S1 on PostgreSQL: {sizes.s1_workflows:,} workflows {TIMES} {CHAIN_LENGTH} steps, "
            "one at a time"
        )
    else:
        title = (
            f"S2 on PostgreSQL: {sizes.s2_workflows:,} workflows {TIMES} {CHAIN_LENGTH} steps, "
            "all at once"
        )
    return [
        Row(
            scenario=scenario,
            title=title,
            outlast=sides.cell("outlast", render),
            dbos=sides.cell("dbos", render),
            ratio=_ratio(sides.ratio("steps_per_s", higher_is_better=True)),
            target="none set",
            met=None,
            unit="steps/s",
            higher_is_better=True,
            outlast_value=_value(sides.o, "steps_per_s"),
            dbos_value=_value(sides.d, "steps_per_s"),
            target_value=None,
            outlast_label="outlast PG",
            dbos_label="DBOS PG",
        )
    ]


@dataclass(frozen=True)
class ScaleRow:
    """outlast on PostgreSQL with 1, 2, 3... worker processes, for one scenario."""

    scenario: str
    title: str
    workers: list[int]
    cells: list[str]
    steps_per_s: list[float | None]
    # Paired by round against the 1-process run: N processes ÷ 1.
    speedups: list[float | None]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _system(workers: int) -> str:
    return "outlast" if workers == 1 else f"outlast-w{workers}"


def scale_row(
    scenario: str, records: list[Record], sizes: Sizes, counts: tuple[int, ...]
) -> ScaleRow:
    n = sizes.s1_workflows if scenario == "S1PG" else sizes.s2_workflows
    how = "one at a time" if scenario == "S1PG" else "all at once"
    cells: list[str] = []
    rates: list[float | None] = []
    speedups: list[float | None] = []
    for count in counts:
        system = _system(count)
        m = medians(records, system)
        ran = [r for r in records if r["system"] == system]
        speedup = (
            1.0
            if count == 1 and m is not None
            else paired_ratio(records, "steps_per_s", True, ours=system, theirs="outlast")
        )
        rates.append(_value(m, "steps_per_s"))
        speedups.append(speedup)
        if not ran:
            cells.append("not run")
            continue
        if m is None:
            cells.append(f"error: {ran[0].get('error', '?')[:80]}")
            continue
        text = f"{num(m['steps_per_s'])} steps/s"
        if "schedule_s" in m:
            text += f", starting them {num(m['schedule_s'])} of {num(m['elapsed_s'])} s"
        if count > 1:
            text += f" ({_ratio(speedup)} of 1"
            if "busiest_share" in m:
                text += f"; busiest process ran {100 * m['busiest_share']:.0f} % of steps"
            text += ")"
        if m["runs"] < len(ran):
            text += f" ({m['runs']} of {len(ran)} runs ok)"
        cells.append(text)
    return ScaleRow(
        scenario=scenario,
        title=f"{scenario}: {n:,} workflows {TIMES} {CHAIN_LENGTH} steps, {how}",
        workers=list(counts),
        cells=cells,
        steps_per_s=rates,
        speedups=speedups,
    )


def build_scale_rows(
    results: dict[str, list[Record]], sizes: Sizes, counts: tuple[int, ...]
) -> list[ScaleRow]:
    """One row per PG scenario that ran outlast with more than one worker count."""
    if len(counts) < 2:
        return []
    return [
        scale_row(scenario, records, sizes, counts)
        for scenario, records in results.items()
        if scenario in ("S1PG", "S2PG") and any(r["system"] != "dbos" for r in records)
    ]


def s3_rows(records: list[Record], sizes: Sizes) -> list[Row]:
    sides = _Sides(records)
    # The two systems may run different sizes here, so compare rates, not times.
    ratio = sides.ratio("activities_per_s", higher_is_better=True)
    same = sizes.s3_fanout == sizes.s3_fanout_dbos

    def render(m: dict[str, Any]) -> str:
        return f"{num(m['elapsed_s'])} s for {m['fanout']:,.0f} ({num(m['activities_per_s'])}/s)"

    return [
        Row(
            scenario="S3",
            title=f"S3 fan-out: one workflow, {sizes.s3_fanout:,} parallel activities"
            + ("" if same else f" (DBOS at {sizes.s3_fanout_dbos:,})"),
            outlast=sides.cell("outlast", render),
            dbos=sides.cell("dbos", render),
            ratio=_ratio(ratio, "" if same else " (activities/s)"),
            target=f"{FULL.s3_fanout:,}-way fan-out in < 5 s",
            met=_met(
                None if sides.o is None else sides.o["elapsed_s"] < 5.0,
                sizes.s3_fanout == FULL.s3_fanout,
            ),
            unit="s",
            higher_is_better=False,
            outlast_value=_value(sides.o, "elapsed_s"),
            dbos_value=_value(sides.d, "elapsed_s"),
            target_value=5.0,
            outlast_label=f"outlast ({sizes.s3_fanout:,})",
            dbos_label=f"DBOS ({sizes.s3_fanout_dbos:,})",
        )
    ]


def s4_rows(records: list[Record], sizes: Sizes) -> list[Row]:
    sides = _Sides(records)
    w = sizes.s4_window

    def render(m: dict[str, Any]) -> str:
        return (
            f"{num(m['first_ms_per_step'])} → {num(m['last_ms_per_step'])} ms/step "
            f"({TIMES}{m['growth']:.2f})"
        )

    return [
        Row(
            scenario="S4",
            title=f"S4 long history: {sizes.s4_steps:,} chained steps, first {w:,} → last {w:,}",
            outlast=sides.cell("outlast", render),
            dbos=sides.cell("dbos", render),
            ratio=_ratio(sides.ratio("steps_per_s", higher_is_better=True), " (steps/s)"),
            target=f"last ≤ 1.5{TIMES} first",
            met=_met(
                None if sides.o is None else sides.o["growth"] <= 1.5,
                sizes.s4_steps == FULL.s4_steps and w == FULL.s4_window,
            ),
            unit="last ÷ first per-step time",
            higher_is_better=False,
            outlast_value=_value(sides.o, "growth"),
            dbos_value=_value(sides.d, "growth"),
            target_value=1.5,
        )
    ]


def s5_rows(records: list[Record], sizes: Sizes) -> list[Row]:
    sides = _Sides(records)
    o = sides.o
    issue_sized = sizes.s5_idle == FULL.s5_idle and sizes.s5_raised == FULL.s5_raised

    def memory(m: dict[str, Any]) -> str:
        return (
            f"{num(m['rss_idle_mb'])} MB for {m['idle']:,.0f} ({num(m['kb_per_instance'])} KB each)"
        )

    raised = min(sizes.s5_raised, sizes.s5_idle)
    same = sizes.s5_idle == sizes.s5_idle_dbos
    return [
        Row(
            scenario="S5",
            title=f"S5 idle: {sizes.s5_idle:,} instances waiting on an event, resident memory"
            + ("" if same else f" (DBOS at {sizes.s5_idle_dbos:,})"),
            outlast=sides.cell("outlast", memory),
            dbos=sides.cell("dbos", memory),
            ratio=_ratio(sides.ratio("kb_per_instance", higher_is_better=False), " (per instance)"),
            target=f"< 500 MB for {FULL.s5_idle:,}",
            met=_met(None if o is None else o["rss_idle_mb"] < 500, issue_sized),
            unit="MB resident",
            higher_is_better=False,
            outlast_value=_value(o, "rss_idle_mb"),
            dbos_value=_value(sides.d, "rss_idle_mb"),
            target_value=500.0,
            outlast_label=f"outlast ({sizes.s5_idle:,})",
            dbos_label=f"DBOS ({sizes.s5_idle_dbos:,})",
        ),
        Row(
            scenario="S5",
            title=f"S5 raise → complete: {raised:,} of them, "
            f"{sizes.s5_raise_concurrency} at a time",
            outlast=sides.cell("outlast", _latency),
            dbos=sides.cell("dbos", _latency),
            ratio=_ratio(sides.ratio("p50_ms", higher_is_better=False), " (p50)"),
            target="p50 < 20 ms",
            met=_met(None if o is None else o["p50_ms"] < 20, issue_sized),
            unit="ms (p50)",
            higher_is_better=False,
            outlast_value=_value(o, "p50_ms"),
            dbos_value=_value(sides.d, "p50_ms"),
            target_value=20.0,
        ),
    ]


def _latency_row(
    scenario: str, title: str, sides: _Sides, target_ms: float, dbos: str | None = None
) -> Row:
    """A p50 latency row; ``dbos``: what its cell says when DBOS does not run it."""
    return Row(
        scenario=scenario,
        title=title,
        outlast=sides.cell("outlast", _latency),
        dbos=sides.cell("dbos", _latency) if dbos is None else dbos,
        ratio=_ratio(sides.ratio("p50_ms", higher_is_better=False), " (p50)"),
        target=f"p50 < {target_ms:g} ms",
        # A latency target holds at any sample count, so no size condition.
        met=None if sides.o is None else sides.o["p50_ms"] < target_ms,
        unit="ms (p50)",
        higher_is_better=False,
        outlast_value=_value(sides.o, "p50_ms"),
        dbos_value=_value(sides.d, "p50_ms"),
        target_value=target_ms,
    )


def s6_rows(records: list[Record], sizes: Sizes) -> list[Row]:
    title = (
        f"S6 latency: schedule → first activity starts, idle runtime ({sizes.s6_samples} samples)"
    )
    return [_latency_row("S6", title, _Sides(records), 5.0)]


def http_rows(records: list[Record], sizes: Sizes) -> list[Row]:
    title = (
        "HTTP latency: GET status from `outlast serve`, one keep-alive client "
        f"({sizes.http_requests:,} requests)"
    )
    return [_latency_row("HTTP", title, _Sides(records), 5.0, dbos="no HTTP API")]


def raw_medians(records: list[Record]) -> dict[str, Any] | None:
    return medians(records, "sqlite")


def build_rows(results: dict[str, list[Record]], sizes: Sizes) -> list[Row]:
    raw = raw_medians(results.get("RAW", []))
    raw_full = None if raw is None else float(raw["wal_full_commits_per_s"])
    rows: list[Row] = []
    for scenario, records in results.items():
        if scenario in ("S1", "S2"):
            rows += s1_s2_rows(scenario, records, sizes, raw_full)
        elif scenario in ("S1PG", "S2PG"):
            rows += pg_rows(scenario, records, sizes)
        elif scenario == "S3":
            rows += s3_rows(records, sizes)
        elif scenario == "S4":
            rows += s4_rows(records, sizes)
        elif scenario == "S5":
            rows += s5_rows(records, sizes)
        elif scenario == "S6":
            rows += s6_rows(records, sizes)
        elif scenario == "HTTP":
            rows += http_rows(records, sizes)
    return rows
