"""In-process change notification for stores: listeners woken after every
commit, and per-instance watchers that waiting clients block on. Other processes'
changes reach them only where the store hears of them (``signals_other_processes``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager


class ChangeSignals:
    """The notification half of :class:`outlast.store.base.Store`. Thread-safe."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._version = 0
        self._listeners: list[Callable[[], None]] = []
        # Per instance: (wake-up, the statuses its waiter waits for; None: any change).
        self._watchers: dict[str, list[tuple[Callable[[], None], frozenset[str] | None]]] = {}

    def add_listener(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` after every change (workers use it to look for new work)."""
        with self._changed:
            self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[], None]) -> None:
        with self._changed:
            if fn in self._listeners:
                self._listeners.remove(fn)

    @contextmanager
    def watch(
        self, instance_id: str, until: frozenset[str] | None = None
    ) -> Iterator[threading.Event]:
        """An event set whenever ``instance_id`` may have changed. Waiting clients use
        it so that a commit wakes only those waiting on what it touched. ``until``:
        the statuses the waiter waits for; a commit known to leave the instance in
        another status does not wake it."""
        event = threading.Event()
        with self.on_change(instance_id, until, event.set):
            yield event

    @contextmanager
    def on_change(
        self, instance_id: str, until: frozenset[str] | None, wake: Callable[[], None]
    ) -> Iterator[None]:
        """``watch`` with a callback: ``wake()`` is called, from the committing
        thread, whenever ``instance_id`` may have changed into one of ``until``.
        It must not block (an asyncio waiter hands it to its loop)."""
        entry = (wake, until)
        with self._changed:
            self._watchers.setdefault(instance_id, []).append(entry)
        try:
            yield
        finally:
            with self._changed:
                entries = self._watchers.get(instance_id, [])
                entries.remove(entry)
                if not entries:
                    self._watchers.pop(instance_id, None)

    def signal(
        self,
        instance_ids: Iterable[str] | None = None,
        statuses: Mapping[str, str] | None = None,
    ) -> None:
        """Wake in-process waiters after a commit: watchers of ``instance_ids`` (all
        watchers when not known) and every listener. ``statuses``: the instances'
        new statuses where known, so that waiters for other statuses sleep on."""
        woken: list[Callable[[], None]] = []
        with self._changed:
            self._version += 1
            self._changed.notify_all()
            listeners = list(self._listeners)
            if instance_ids is None:
                for entries in self._watchers.values():
                    woken.extend(wake for wake, _ in entries)
            elif self._watchers:
                for iid in instance_ids:
                    status = None if statuses is None else statuses.get(iid)
                    for wake, until in self._watchers.get(iid, ()):
                        if until is None or status is None or status in until:
                            woken.append(wake)
        for fn in (*woken, *listeners):
            fn()

    def wait_for_change(self, seen: int, timeout: float) -> int:
        """Block until a change after version ``seen`` or ``timeout``; return the
        version now."""
        with self._changed:
            if self._version == seen:
                self._changed.wait(timeout)
            return self._version

    @property
    def version(self) -> int:
        return self._version
