"""Instance IDs: the one rule for every ID a client, a workflow or an SDK gives."""

from __future__ import annotations

import re
import uuid

ID_CHARS = r"[A-Za-z0-9_\-:.]+"
_INSTANCE_ID = re.compile(ID_CHARS[:-1] + "{1,64}")
_NAMESPACE = uuid.UUID("9e1f3c56-4d7a-4b0e-9a51-6f0c2b7d8e41")

ID_RULE = "1 to 64 letters, digits, '_', '-', ':' or '.'"
ID_PATTERN = _INSTANCE_ID.pattern


def is_valid_instance_id(instance_id: object) -> bool:
    return isinstance(instance_id, str) and _INSTANCE_ID.fullmatch(instance_id) is not None


def validate_instance_id(instance_id: str) -> str:
    """``instance_id`` if it follows the rule, else ValueError saying the rule."""
    if not is_valid_instance_id(instance_id):
        raise ValueError(f"invalid instance ID {instance_id!r:.100}: use {ID_RULE}")
    return instance_id


def child_instance_id(parent_id: str, task_id: int) -> str:
    """The deterministic ID of a child a workflow starts without naming one."""
    candidate = f"{parent_id}-{task_id}"
    if len(candidate) <= 64:
        return candidate
    return uuid.uuid5(_NAMESPACE, f"{parent_id}/{task_id}").hex


def deterministic_uuid(*parts: object) -> str:
    """A UUID that replays identically: derived from ``parts``, not from randomness."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(str(p) for p in parts)))
