"""``GET /metrics``: Prometheus text format, with the official ``prometheus-client``.

Nothing here is on the hot path. The runtime keeps plain counters
(``runtime/stats.py``) bumped once a round or an activity attempt; the gauges are
computed when scraped, from two store queries (instances by status; what is due
and waiting).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from outlast.client.client import WorkflowClient
from outlast.core.status import WorkflowStatus
from outlast.runtime.runtime import WorkflowRuntime
from outlast.runtime.stats import Histogram


class OutlastCollector(Collector):
    """The metrics of one store and, when this process runs it, one runtime."""

    def __init__(self, client: WorkflowClient, runtime: WorkflowRuntime | None) -> None:
        self._client = client
        self._runtime = runtime

    def collect(self) -> Iterator[Metric]:
        store = self._client.store
        counts = self._client.count_workflows().counts
        instances = GaugeMetricFamily(
            "outlast_instances", "Workflow instances in the store, by status", labels=["status"]
        )
        for status in WorkflowStatus:
            instances.add_metric([status.value], counts.get(status, 0))
        yield instances
        now = time.time()
        queue = store.queue_stats(now)
        yield GaugeMetricFamily(
            "outlast_ready_messages",
            "Inbox messages due now and not yet taken (starts, events, timers, results)",
            value=queue.ready_messages,
        )
        oldest = 0.0 if queue.oldest_ready_at is None else max(0.0, now - queue.oldest_ready_at)
        yield GaugeMetricFamily(
            "outlast_oldest_ready_message_age_seconds",
            "How long the oldest due inbox message has waited (0 when none waits)",
            value=oldest,
        )
        yield GaugeMetricFamily(
            "outlast_pending_activities",
            "Activities scheduled and not finished (running or waiting for a slot)",
            value=queue.activities,
        )
        if self._runtime is not None:
            yield from _runtime_metrics(self._runtime)


def _runtime_metrics(runtime: WorkflowRuntime) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "outlast_runtime_running",
        "1 while this process's workflow runtime runs",
        value=1.0 if runtime.health()["healthy"] else 0.0,
    )
    stats = runtime.stats.snapshot()
    yield CounterMetricFamily(
        "outlast_turns", "Workflow turns committed by this runtime", value=stats.turns
    )
    yield CounterMetricFamily(
        "outlast_commits",
        "Group commits (one transaction each) of this runtime",
        value=stats.commits,
    )
    yield _histogram(
        "outlast_commit_duration_seconds", "Time of one group commit", stats.commit_seconds
    )
    yield _histogram("outlast_commit_turns", "Turns in one group commit", stats.commit_turns)
    attempts = CounterMetricFamily(
        "outlast_activity_attempts",
        "Activity attempts run by this runtime, by activity and outcome",
        labels=["activity", "outcome"],
    )
    for (name, outcome), n in sorted(stats.activity_attempts.items()):
        attempts.add_metric([name, outcome], n)
    yield attempts
    durations = HistogramMetricFamily(
        "outlast_activity_duration_seconds",
        "Time of one activity attempt, by activity",
        labels=["activity"],
    )
    for name, hist in sorted(stats.activity_seconds.items()):
        durations.add_metric([name], hist.cumulative(), hist.total)
    yield durations


def _histogram(name: str, documentation: str, hist: Histogram) -> HistogramMetricFamily:
    return HistogramMetricFamily(
        name, documentation, buckets=hist.cumulative(), sum_value=hist.total
    )


def metrics_endpoint(
    client: WorkflowClient, runtime: WorkflowRuntime | None
) -> Callable[[Request], Awaitable[Response]]:
    """The ``/metrics`` route's handler, with a registry of its own (apps made in
    one process do not share metrics)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(OutlastCollector(client, runtime))

    async def metrics(request: Request) -> Response:
        body = await run_in_threadpool(generate_latest, registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return metrics
