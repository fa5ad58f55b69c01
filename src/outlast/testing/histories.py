"""Instance histories as the store keeps them, and as JSON files (``outlast history
--export DIR``) that the replay check (``replay.py``) reads back."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from outlast.core.status import WorkflowStatus
from outlast.store import Store
from outlast.store.base import InstanceQuery

# What `outlast check` replays by default: the instances a deploy would touch
# (stalled ones too: the check tells whether the new code fixes them).
UNFINISHED = ("RUNNING", "SUSPENDED", "STALLED")
EVERY_STATUS = tuple(s.value for s in WorkflowStatus if s is not WorkflowStatus.PENDING)
FORMAT = "outlast.history/1"


@dataclass(frozen=True, slots=True)
class StoredHistory:
    """One instance's history as stored: its events in the store's encoding."""

    instance_id: str
    name: str
    status: str
    events: Sequence[str | bytes]
    execution_id: str = ""

    def to_json(self) -> dict[str, Any]:
        """The exported form (``outlast history --export``): readable events."""
        return {
            "format": FORMAT,
            "instance_id": self.instance_id,
            "name": self.name,
            "status": self.status,
            "execution_id": self.execution_id,
            "events": [orjson.loads(e) for e in self.events],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StoredHistory:
        if data.get("format") != FORMAT:
            raise ValueError(f"not an exported outlast history (format {data.get('format')!r})")
        return cls(
            instance_id=str(data["instance_id"]),
            name=str(data["name"]),
            status=str(data["status"]),
            events=[orjson.dumps(e) for e in data["events"]],
            execution_id=str(data.get("execution_id", "")),
        )


def store_histories(
    store: Store, *, statuses: Sequence[str] = UNFINISHED, name: str | None = None
) -> Iterator[StoredHistory]:
    """The histories of a store's instances in ``statuses`` (by default those not
    finished), a page at a time."""
    query = InstanceQuery(statuses=list(statuses), name=name, limit=500)
    while True:
        page = store.list_instances(query)
        for record in page:
            yield StoredHistory(
                record.instance_id,
                record.name,
                record.status,
                store.get_history(record.instance_id),
                record.execution_id,
            )
        if len(page) < query.limit:
            return
        query.after = (page[-1].created_at, page[-1].instance_id)


def export_histories(histories: Iterable[StoredHistory], directory: str | Path) -> int:
    """Write each history to ``directory/<instance ID>.json``; return how many."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    for stored in histories:
        path = out / f"{quote(stored.instance_id, safe='')}.json"
        path.write_bytes(orjson.dumps(stored.to_json(), option=orjson.OPT_INDENT_2))
        count += 1
    return count


def read_histories(directory: str | Path) -> list[StoredHistory]:
    """The histories exported to ``directory`` (``*.json``), by file name."""
    folder = Path(directory)
    if not folder.is_dir():
        raise FileNotFoundError(f"no directory of exported histories at {folder}")
    out = []
    for path in sorted(folder.glob("*.json")):
        try:
            out.append(StoredHistory.from_json(orjson.loads(path.read_bytes())))
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}: {e}") from e
    return out
