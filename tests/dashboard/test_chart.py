"""Timelines placed on a linear time axis."""

from __future__ import annotations

from outlast.dashboard import chart
from outlast.dashboard import timeline as tl
from tests.dashboard.histories import at, ev, started


def test_bars_sit_on_a_linear_axis_and_open_ones_run_to_now() -> None:
    line = tl.build(
        [
            started(),
            ev("TaskScheduled", 0, task_id=0, name="a"),
            ev("TaskCompleted", 10, task_id=0),
            ev("TaskScheduled", 10, task_id=1, name="b"),
        ]
    )
    c = chart.layout(line, now=at(20))
    a, b = (row.bars[0] for row in c.rows)
    assert a.x == chart.LABEL_WIDTH
    plot = c.width - chart.LABEL_WIDTH - 10
    assert abs(a.w - plot / 2) < 0.01 and abs(b.x - (chart.LABEL_WIDTH + plot / 2)) < 0.01
    assert abs(b.w - plot / 2) < 0.01  # open: drawn to now
    assert [t.label for t in c.ticks][:3] == ["0", "+5s", "+10s"]
    assert [r.label for r in c.rows] == ["a", "b"]


def test_event_waits_are_labelled_with_their_timeout() -> None:
    line = tl.build(
        [
            started(),
            ev(
                "TimerCreated",
                0,
                task_id=0,
                fire_at=at(86400),
                origin="external_event",
                origin_name="approve",
            ),
            ev(
                "TimerCreated",
                0,
                task_id=1,
                fire_at=None,
                origin="external_event",
                origin_name="forever",
            ),
        ]
    )
    notes = [row.note for row in chart.layout(line, now=at(1)).rows]
    assert notes == ["timeout 1d", "no timeout"]


def test_folded_lanes_draw_touching_bars_as_one() -> None:
    history = [started()]
    for n in range(100):
        history += [
            ev("TaskScheduled", n, task_id=n, name="step"),
            ev("TaskCompleted", n + 1, task_id=n),
        ]
    history += [ev("TaskScheduled", 0, task_id=1000 + n, name=f"x{n}") for n in range(50)]
    c = chart.layout(tl.build(history), now=at(100))
    [step] = [row for row in c.rows if row.label == "step"]
    [drawn] = step.bars
    assert drawn.count == 100 and drawn.title.startswith("100 steps from")
    assert drawn.rerun_seq is None and step.note.endswith("100 done")


def test_durations_read_as_a_person_would() -> None:
    assert [chart.duration(s) for s in (0.25, 1.5, 125, 7200 + 60, 90000)] == [
        "250ms",
        "1.5s",
        "2m 5s",
        "2h 1m",
        "1d 1h",
    ]
