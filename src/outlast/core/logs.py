"""The loggers user code gets: ``ctx.logger`` in workflows and activities.

A workflow's logger is replay-aware: while the code re-runs past steps from
history (after a restart, an eviction from the sticky cache, or on another
worker) it drops every record, so each line is logged once, when its step first
runs. Records carry the instance and names as ``extra`` fields
(``record.instance_id``, ``record.workflow_name``; ``record.activity_name``,
``record.task_id`` and ``record.attempt`` for activities), ready for a JSON
formatter; a call's own ``extra`` is merged in, not dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from typing import Any

WORKFLOW_LOGGER = "outlast.workflow"
ACTIVITY_LOGGER = "outlast.activity"


class ContextLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger adapter that adds its fields to every record's ``extra``."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        fields = dict(self.extra or {})
        extra = kwargs.get("extra")
        kwargs["extra"] = fields if extra is None else {**fields, **extra}
        return msg, kwargs


class WorkflowLogger(ContextLogger):
    """``ctx.logger`` of a workflow: silent while the workflow replays."""

    def __init__(self, fields: dict[str, Any], replaying: Callable[[], bool]) -> None:
        super().__init__(logging.getLogger(WORKFLOW_LOGGER), fields)
        self._replaying = replaying

    @property
    def is_replaying(self) -> bool:
        return self._replaying()

    def isEnabledFor(self, level: int) -> bool:
        return not self._replaying() and self.logger.isEnabledFor(level)


def activity_logger(fields: dict[str, Any]) -> ContextLogger:
    """``ctx.logger`` of an activity attempt."""
    return ContextLogger(logging.getLogger(ACTIVITY_LOGGER), fields)


def warn_forgotten(name: str, instance_id: str, task_ids: list[int]) -> None:
    """A workflow returned while tasks it made were never yielded nor combined (the
    engine's own timers excepted): a forgotten ``yield``, most likely."""
    logging.getLogger(WORKFLOW_LOGGER).warning(
        "workflow %s (%s) returned while %d task(s) it created (task IDs %s) were never "
        "yielded: their results are lost. Did you forget `yield`? "
        "(result = yield ctx.call_activity(...))",
        name,
        instance_id,
        len(task_ids),
        ", ".join(map(str, task_ids)),
        extra={"instance_id": instance_id, "workflow_name": name},
    )
