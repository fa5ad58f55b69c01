"""Records for the store contract's tests: instances, messages and turns made in a
line, and two worker IDs."""

from __future__ import annotations

from outlast.store.base import InstanceRecord, InstanceUpdate, Message, Store, TurnWrite

W1 = "host:1:aaaa"
W2 = "host:2:bbbb"


def record(iid: str, *, status: str = "PENDING", created: float = 100.0) -> InstanceRecord:
    return InstanceRecord(
        instance_id=iid,
        name="wf",
        status=status,
        execution_id=f"{iid}-e1",
        created_at=created,
        updated_at=created,
        input='{"x":1}',
    )


def message(
    iid: str, event: str = "start", *, at: float = 100.0, execution: str | None = None
) -> Message:
    return Message(iid, execution, event, at)


def turn(
    iid: str,
    *,
    start: int = 0,
    history: list[str] | None = None,
    status: str = "RUNNING",
    consumed: list[int] | None = None,
    release: bool = False,
    **kw: object,
) -> TurnWrite:
    return TurnWrite(
        instance_id=iid,
        execution_id=f"{iid}-e1",
        history_start=start,
        history=history or [],
        update=InstanceUpdate(status=status, updated_at=200.0, release=release),
        consumed=consumed or [],
        **kw,  # type: ignore[arg-type]
    )


def create(store: Store, iid: str, **kw: object) -> None:
    """A new pending instance ``iid`` (``record``'s keywords) with its start message."""
    store.create_instance(record(iid, **kw), message(iid, execution=f"{iid}-e1"))  # type: ignore[arg-type]
