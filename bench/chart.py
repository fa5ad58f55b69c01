"""The report's chart: one panel per table row, outlast beside DBOS, on log scales,
then the S2 vs raw SQLite panel and one panel per PostgreSQL scale-out row.

Log scales because the ratios span orders of magnitude; the value is printed
on each bar so nobody has to read a log axis.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

import matplotlib

# Headless: no display on CI or the bench machine. Must precede pyplot.
matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, NullFormatter

from bench.summary import Row, ScaleRow

COLOURS = {"outlast": "#2a7ab0", "DBOS": "#c8553d", "SQLite": "#7a7a7a"}
# Lighter to darker blue for 1, 2, 3... outlast worker processes.
SCALE_COLOURS = ["#2a7ab0", "#1d5a85", "#123b59", "#0a2436"]


def _label(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _bars(ax: Axes, names: list[str], values: list[float | None], colours: list[str]) -> None:
    shown = [(n, v, c) for n, v, c in zip(names, values, colours, strict=True) if v]
    if not shown:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        return
    xs = range(len(shown))
    heights = [v for _, v, _ in shown]
    ax.bar(xs, heights, color=[c for _, _, c in shown], width=0.6)
    ax.set_xticks(list(xs), [n for n, _, _ in shown])
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _label(v)))
    ax.yaxis.set_minor_formatter(NullFormatter())
    for x, v in zip(xs, heights, strict=True):
        ax.annotate(_label(v), (x, v), ha="center", va="bottom", fontsize=8)
    top = max(heights)
    bottom = min(heights)
    ax.set_ylim(bottom / 3, top * 4)


def _panel(ax: Axes, row: Row) -> None:
    _bars(
        ax,
        [row.outlast_label, row.dbos_label],
        [row.outlast_value, row.dbos_value],
        [COLOURS["outlast"], COLOURS["DBOS"]],
    )
    if row.target_value:
        ax.axhline(row.target_value, color="black", linestyle="--", linewidth=0.8)
        low, high = ax.get_ylim()
        ax.set_ylim(min(low, row.target_value / 2), max(high, row.target_value * 2))
    better = "higher" if row.higher_is_better else "lower"
    ax.set_ylabel(f"{row.unit} ({better} is better)", fontsize=8)
    ax.set_title("\n".join(textwrap.wrap(row.title, 42)), fontsize=9)


def _raw_panel(ax: Axes, rows: list[Row], raw: dict[str, Any] | None) -> None:
    s2 = next((r for r in rows if r.scenario == "S2"), None)
    names = ["outlast S2", "SQLite FULL", "SQLite NORMAL"]
    values = [
        s2.outlast_value if s2 else None,
        raw["wal_full_commits_per_s"] if raw else None,
        raw["wal_normal_commits_per_s"] if raw else None,
    ]
    _bars(ax, names, values, [COLOURS["outlast"], COLOURS["SQLite"], COLOURS["SQLite"]])
    ax.set_ylabel("steps/s or commits/s (higher is better)", fontsize=8)
    ax.set_title(
        "S2 steps/s vs raw SQLite commits/s\n(one insert per transaction, WAL)", fontsize=9
    )
    ax.tick_params(axis="x", labelsize=7)


def _raw_pg_panel(ax: Axes, rows: list[Row], raw_pg: dict[str, Any]) -> None:
    s2 = next((r for r in rows if r.scenario == "S2PG"), None)
    names = ["outlast S2 PG", "DBOS S2 PG", "PostgreSQL"]
    values = [
        s2.outlast_value if s2 else None,
        s2.dbos_value if s2 else None,
        raw_pg["commits_per_s"],
    ]
    _bars(ax, names, values, [COLOURS["outlast"], COLOURS["DBOS"], COLOURS["SQLite"]])
    ax.set_ylabel("steps/s or commits/s (higher is better)", fontsize=8)
    ax.set_title(
        "S2 on PostgreSQL, steps/s vs raw PostgreSQL\ncommits/s (one insert per transaction)",
        fontsize=9,
    )
    ax.tick_params(axis="x", labelsize=7)


def _scale_panel(ax: Axes, row: ScaleRow) -> None:
    names = [f"{n} process{'es' if n > 1 else ''}" for n in row.workers]
    colours = [SCALE_COLOURS[min(i, len(SCALE_COLOURS) - 1)] for i in range(len(names))]
    _bars(ax, names, row.steps_per_s, colours)
    ax.set_ylabel("steps/s (higher is better)", fontsize=8)
    ax.set_title("\n".join(textwrap.wrap(f"outlast on PostgreSQL, {row.title}", 42)), fontsize=9)


def draw(
    path: Path,
    rows: list[Row],
    raw: dict[str, Any] | None,
    when: str,
    scale_rows: list[ScaleRow] | None = None,
    raw_pg: dict[str, Any] | None = None,
) -> None:
    scale_rows = scale_rows or []
    extra: list[Any] = [lambda ax: _raw_panel(ax, rows, raw)]
    if raw_pg:
        extra.append(lambda ax: _raw_pg_panel(ax, rows, raw_pg))
    extra += [lambda ax, r=row: _scale_panel(ax, r) for row in scale_rows]
    panels = len(rows) + len(extra)
    cols = 3
    lines = math.ceil(panels / cols)
    fig, axes = plt.subplots(lines, cols, figsize=(4.2 * cols, 3.6 * lines), squeeze=False)
    flat = [ax for line in axes for ax in line]
    for ax, row in zip(flat, rows, strict=False):
        _panel(ax, row)
    for ax, draw_panel in zip(flat[len(rows) :], extra, strict=False):
        draw_panel(ax)
    for ax in flat[panels:]:
        ax.set_visible(False)
    fig.suptitle(f"outlast vs DBOS Transact (dashed: target) — {when}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
