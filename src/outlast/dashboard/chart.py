"""Placing a timeline on a linear time axis: rows, bars and ticks in SVG units.

Pure, so the drawing is tested without a browser; the template only writes the
numbers out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from outlast.dashboard import timeline as tl
from outlast.dashboard.values import Source

WIDTH: Final = 1100
LABEL_WIDTH: Final = 240
ROW_HEIGHT: Final = 22
AXIS_HEIGHT: Final = 26
_MIN_BAR: Final = 2.0
_STEPS: Final = (
    [m * 10.0**e for e in range(-3, 1) for m in (1, 2, 5)]
    + [10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200]
    + [86400 * d for d in (1, 2, 7, 14, 30, 90, 365)]
)


@dataclass
class DrawnBar:
    x: float
    w: float
    css: str  # kind and state classes
    title: str
    seq: int
    end_seq: int | None
    task_id: int | None
    rerun_seq: int | None
    child_id: str | None
    count: int = 1  # bars of a folded lane drawn as this one


@dataclass
class Row:
    y: float
    label: str
    note: str  # "x1000: 990 done, 10 open" for folded lanes (a multiplication sign)
    kind: str
    bars: list[DrawnBar] = field(default_factory=list)
    source: Source | None = None
    source_line: str | None = None  # filled in by whoever can read the file


@dataclass
class Tick:
    x: float
    label: str


@dataclass
class DrawnMarker:
    x: float
    label: str
    seq: int
    kind: str


@dataclass
class Chart:
    width: float
    height: float
    plot_left: float
    rows: list[Row]
    ticks: list[Tick]
    markers: list[DrawnMarker]
    start: float | None
    end: float | None
    hidden_lanes: int = 0
    grouped: bool = False


def layout(timeline: tl.Timeline, now: float, *, width: float = WIDTH) -> Chart:
    """The chart of ``timeline``; bars still open run to ``now`` (or to the last
    event, if that is later)."""
    plot_left, plot_width = LABEL_WIDTH, width - LABEL_WIDTH - 10
    start = timeline.start
    rows: list[Row] = []
    height = AXIS_HEIGHT + ROW_HEIGHT * (len(timeline.lanes) + 1) + 4
    if start is None:
        return Chart(width, height, plot_left, rows, [], [], None, None)
    end = timeline.end or start
    if timeline.open_bars():
        end = max(end, now)
    span = max(end - start, 1e-3)

    def x_of(t: float) -> float:
        return plot_left + (min(max(t, start), end) - start) / span * plot_width

    for n, lane in enumerate(timeline.lanes):
        row = Row(AXIS_HEIGHT + ROW_HEIGHT * (n + 1), lane.label, _note(lane), lane.kind)
        row.source = lane.bars[0].source
        for bar in lane.bars:
            x0 = x_of(bar.start)
            x1 = x_of(bar.end if bar.end is not None else end)
            row.bars.append(
                DrawnBar(
                    x=round(x0, 2),
                    w=round(max(x1 - x0, _MIN_BAR), 2),
                    css=f"bar {bar.kind} {bar.state}",
                    title=_title(bar, start),
                    seq=bar.seq,
                    end_seq=bar.end_seq,
                    task_id=bar.task_id,
                    rerun_seq=bar.rerun_seq,
                    child_id=bar.child_id,
                )
            )
        if lane.members > 1:
            row.bars = _merge(row.bars)
        rows.append(row)
    markers = [DrawnMarker(round(x_of(m.at), 2), m.label, m.seq, m.kind) for m in timeline.markers]
    return Chart(
        width,
        height,
        plot_left,
        rows,
        ticks(start, end, plot_left, plot_width),
        markers,
        start,
        end,
        timeline.hidden_lanes,
        timeline.grouped,
    )


def _merge(bars: list[DrawnBar]) -> list[DrawnBar]:
    """A folded lane's bars of one kind and state that touch to within a pixel, as
    one: a thousand steps are drawn as the spans they cover, not as a thousand
    sub-pixel rectangles (each drawn bar still points at its first step)."""
    merged: list[DrawnBar] = []
    last: dict[str, DrawnBar] = {}
    for bar in sorted(bars, key=lambda b: b.x):
        into = last.get(bar.css)
        if into is not None and bar.x <= into.x + into.w + 1:
            into.w = round(max(into.w, bar.x + bar.w - into.x), 2)
            into.count += 1
            continue
        last[bar.css] = bar
        merged.append(bar)
    for bar in merged:
        if bar.count > 1:
            bar.title = f"{bar.count} steps from {bar.title}"
            bar.rerun_seq = bar.end_seq = bar.child_id = None
    return merged


def ticks(start: float, end: float, left: float, width: float, most: int = 8) -> list[Tick]:
    """Round-numbered ticks, at most ``most`` of them, labelled relative to ``start``."""
    span = max(end - start, 1e-3)
    step = next((s for s in _STEPS if span / s <= most), _STEPS[-1])
    count = math.floor(span / step + 1e-9)
    return [
        Tick(
            round(left + (k * step) / span * width, 2), "0" if k == 0 else "+" + duration(k * step)
        )
        for k in range(count + 1)
    ]


def duration(seconds: float) -> str:
    """A short human duration: 850ms, 1.5s, 2m 5s, 3h 20m, 2d 4h."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.3g}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m" + (f" {secs}s" if secs else "")
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h" + (f" {minutes}m" if minutes else "")
    days, hours = divmod(hours, 24)
    return f"{days}d" + (f" {hours}h" if hours else "")


def clock_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def _note(lane: tl.Lane) -> str:
    if lane.kind == tl.EVENT and lane.members <= 1:
        wait = lane.bars[0]
        if wait.fire_at is None:
            return "no timeout"
        return f"timeout {duration(max(0.0, wait.fire_at - wait.start))}"
    if lane.members <= 1:
        attempts = sum(1 for b in lane.bars if b.kind == lane.kind)
        return f"{attempts} attempts" if attempts > 1 else ""
    counts = ", ".join(f"{n} {state}" for state, n in sorted(lane.counts().items()))
    return f"\N{MULTIPLICATION SIGN}{lane.members}: {counts}"


def _title(bar: tl.Bar, start: float) -> str:
    took = "open" if bar.end is None else duration(bar.end - bar.start)
    parts = [f"{bar.kind} {bar.label}", bar.state, f"+{duration(bar.start - start)}", took]
    if bar.task_id is not None:
        parts.append(f"task {bar.task_id}")
    if bar.attempt > 1:
        parts.append(f"attempt {bar.attempt}")
    if bar.fire_at is not None:
        parts.append(f"until {clock_time(bar.fire_at)}")
    if bar.detail:
        parts.append(bar.detail)
    if bar.source is not None:
        parts.append(bar.source.where)
    return " · ".join(parts)
