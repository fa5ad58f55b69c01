"""Schedules, the pure part: a schedule's spec, its tick times, and what to do with
the ticks that are due.

Tick times are whole seconds since the epoch (UTC). A cron expression is evaluated
in the schedule's time zone by ``cronsim`` (Debian cron's rules, daylight-saving
changes included; see docs/schedules.md); an interval (``every``) counts from
``start_at``, or from the epoch without one, in UTC. Nothing here reads a clock:
``now`` is always passed in.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

Overlap = Literal["skip", "buffer_one", "allow_all", "terminate_previous"]
Catchup = Literal["skip", "one", "all"]
OVERLAPS: Final[tuple[str, ...]] = get_args(Overlap)
CATCHUPS: Final[tuple[str, ...]] = get_args(Catchup)

# A due tick more than this many seconds old was missed (the runtime was down, or
# none was running); ``catchup`` decides what becomes of missed ticks. Younger ones
# are merely late and start as usual.
MISSED_AFTER: Final = 60.0
# The most ticks one plan takes on; the rest wait for the next plan, moments later.
PLAN_LIMIT: Final = 100

# A tick's instance ID is "{schedule_id}-{YYYYMMDDTHHMMSSZ}" and instance IDs are at
# most 64 characters, so a schedule ID gets 64 - 17.
MAX_SCHEDULE_ID: Final = 47
_SCHEDULE_ID = re.compile(rf"^[A-Za-z0-9_-]{{1,{MAX_SCHEDULE_ID}}}$")


def validate_schedule_id(schedule_id: str) -> str:
    """``schedule_id`` if it can prefix tick instance IDs; else ValueError."""
    if not isinstance(schedule_id, str) or not _SCHEDULE_ID.match(schedule_id):
        raise ValueError(
            f"invalid schedule ID {schedule_id!r}: use 1 to {MAX_SCHEDULE_ID} letters, "
            "digits, '_' or '-'"
        )
    return schedule_id


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """When a schedule ticks and how it treats overlapping and missed runs.
    Exactly one of ``cron`` and ``every`` (seconds) is set; times are epoch seconds."""

    cron: str | None = None
    every: int | None = None
    timezone: str = "UTC"
    start_at: float | None = None
    end_at: float | None = None
    jitter: float | None = None
    overlap: Overlap = "skip"
    catchup: Catchup = "skip"
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if (self.cron is None) == (self.every is None):
            raise ValueError("a schedule needs exactly one of cron= and every=")
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown time zone {self.timezone!r}") from e
        object.__setattr__(self, "_zone", zone)
        if self.cron is not None:
            try:
                CronSim(self.cron, datetime(2000, 1, 1, tzinfo=UTC))
            except CronSimError as e:
                raise ValueError(f"invalid cron expression {self.cron!r}: {e}") from e
        if self.every is not None and (
            not isinstance(self.every, int) or isinstance(self.every, bool) or self.every < 1
        ):
            raise ValueError("every= must be a whole number of seconds, at least one")
        if self.start_at is not None and self.end_at is not None and self.end_at <= self.start_at:
            raise ValueError("end_at must be later than start_at")
        if self.jitter is not None and not (math.isfinite(self.jitter) and self.jitter >= 0):
            raise ValueError("jitter must be a non-negative duration")
        if self.overlap not in OVERLAPS:
            raise ValueError(f"overlap must be one of {', '.join(OVERLAPS)}, not {self.overlap!r}")
        if self.catchup not in CATCHUPS:
            raise ValueError(f"catchup must be one of {', '.join(CATCHUPS)}, not {self.catchup!r}")

    # --- stored form ------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in sorted(_FIELDS)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScheduleSpec:
        known = {k: v for k, v in data.items() if k in _FIELDS}
        return cls(**known)

    # --- ticks --------------------------------------------------------------------------

    def next_tick(self, after: float) -> int | None:
        """The first tick later than ``after``; None when there is none before
        ``end_at`` (the schedule has ended)."""
        base = math.floor(after)
        if self.start_at is not None:
            base = max(base, math.ceil(self.start_at) - 1)
        tick = self._unbounded_next(base)
        if tick is None or (self.end_at is not None and tick >= self.end_at):
            return None
        return tick

    def last_tick_before(self, before: float, not_before: float) -> int | None:
        """The latest tick earlier than ``before`` and not earlier than
        ``not_before`` (or ``start_at``); None if there is none."""
        limit = math.ceil(before)  # ticks are whole seconds: t < before <=> t < ceil
        if self.end_at is not None:
            limit = min(limit, math.ceil(self.end_at))
        floor = math.ceil(not_before)
        if self.start_at is not None:
            floor = max(floor, math.ceil(self.start_at))
        if self.every is not None:
            anchor = self._anchor()
            tick = anchor + (limit - 1 - anchor) // self.every * self.every
        else:
            assert self.cron is not None
            try:
                found = next(CronSim(self.cron, self._local(limit), reverse=True))
            except StopIteration:
                return None
            tick = int(found.timestamp())
        return tick if tick >= floor else None

    def ticks_between(self, start: float, end: float, limit: int) -> list[int]:
        """Ticks in ``[start, end)``, ignoring ``start_at`` and ``end_at`` (a
        backfill names its own range); ValueError past ``limit`` of them."""
        out: list[int] = []
        tick = self._unbounded_next(math.ceil(start) - 1)
        while tick is not None and tick < end:
            if len(out) == limit:
                raise ValueError(f"more than {limit} ticks in that range; ask for a shorter one")
            out.append(tick)
            tick = self._unbounded_next(tick)
        return out

    def _anchor(self) -> int:
        return 0 if self.start_at is None else math.ceil(self.start_at)

    def _local(self, seconds: int) -> datetime:
        return datetime.fromtimestamp(seconds, self._zone)

    def _unbounded_next(self, base: int) -> int | None:
        """The first tick later than ``base`` (whole seconds), bounds aside."""
        if self.every is not None:
            anchor = self._anchor()
            return anchor + ((base - anchor) // self.every + 1) * self.every
        assert self.cron is not None
        try:
            return int(next(CronSim(self.cron, self._local(base))).timestamp())
        except StopIteration:  # cronsim gives up when nothing matches for 50 years
            return None

    def jitter_offset(self, schedule_id: str, tick: int) -> float:
        """How long after ``tick`` its run starts: a spread in ``[0, jitter)`` that
        every worker computes alike (it hashes the tick), so it needs no storing."""
        if not self.jitter:
            return 0.0
        digest = hashlib.blake2b(f"{schedule_id}@{tick}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64 * self.jitter


_FIELDS = frozenset(f for f in ScheduleSpec.__dataclass_fields__ if not f.startswith("_"))


def tick_instance_id(schedule_id: str, tick: int) -> str:
    """The instance ID of a tick: ``nightly-20261202T093000Z``. Deterministic, so a
    tick can be started once only, whichever worker gets there."""
    return f"{schedule_id}-{datetime.fromtimestamp(tick, UTC):%Y%m%dT%H%M%SZ}"


# --- what to do with the due ticks -----------------------------------------------------


@dataclass(slots=True)
class TickPlan:
    """The decisions for one schedule at one moment."""

    start: list[int] = field(default_factory=list)  # ticks to start, in order
    skipped: list[int] = field(default_factory=list)  # passed over: a run was running
    buffered: int | None = None  # buffer_one: held until the running run finishes
    next_run_at: int | None = None  # the first tick not handled yet; None: ended
    terminate_previous: bool = False  # the run in progress is to be terminated


def plan_ticks(
    spec: ScheduleSpec,
    cursor: int | None,
    buffered: int | None,
    running: bool,
    now: float,
    limit: int = PLAN_LIMIT,
) -> TickPlan:
    """Decide about the ticks due at ``now``.

    ``cursor`` is the first tick not handled yet (None: the schedule has ended),
    ``buffered`` a tick held back by ``buffer_one``, ``running`` whether the
    schedule's latest run has not finished. Missed ticks (more than
    ``MISSED_AFTER`` seconds overdue) go by ``catchup``: ``all`` starts each,
    ``one`` the latest of them, ``skip`` none. Each tick that is to start then goes
    by ``overlap`` while a run is running: ``skip`` passes it over, ``buffer_one``
    holds one back (and passes over the rest), ``allow_all`` starts it anyway,
    ``terminate_previous`` terminates the running run and starts it.
    """
    plan = TickPlan(buffered=buffered, next_run_at=cursor)
    if buffered is not None and not running:
        plan.start.append(buffered)
        plan.buffered = None
        running = True
    due: list[int] = []
    if cursor is not None and cursor <= now:
        missed_before = now - MISSED_AFTER
        if cursor < missed_before and spec.catchup != "all":
            if spec.catchup == "one":
                last = spec.last_tick_before(missed_before, cursor)
                if last is not None:
                    due.append(last)
            # Go on from the first tick that is not missed.
            cursor = spec.next_tick(math.ceil(missed_before) - 1)
        while cursor is not None and cursor <= now and len(due) < limit:
            due.append(cursor)
            cursor = spec.next_tick(cursor)
        plan.next_run_at = cursor
    if spec.overlap == "terminate_previous":
        if due:
            # Only the latest starts: each earlier one would be terminated at once.
            plan.skipped.extend(due[:-1])
            plan.start.append(due[-1])
            plan.terminate_previous = running
        return plan
    for tick in due:
        if not running or spec.overlap == "allow_all":
            plan.start.append(tick)
        elif spec.overlap == "buffer_one" and plan.buffered is None:
            plan.buffered = tick
        else:
            plan.skipped.append(tick)
        running = True
    return plan
