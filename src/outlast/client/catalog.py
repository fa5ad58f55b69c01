"""Which workflow names the runtimes of this process can run, per store.

A client in the same process as a running runtime rejects a workflow name that
none of them knows at once (``UnknownWorkflowError``) instead of letting the
instance stall. Runtimes enter themselves here when they start; the store itself
knows nothing of registries.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable

# Per store object: one "can you run this name?" function per running runtime.
_running: weakref.WeakKeyDictionary[object, list[Callable[[str], bool]]] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()


def add(store: object, knows: Callable[[str], bool]) -> None:
    """A runtime on ``store`` runs the workflows for which ``knows(name)`` is true."""
    with _lock:
        _running.setdefault(store, []).append(knows)


def remove(store: object, knows: Callable[[str], bool]) -> None:
    with _lock:
        entries = _running.get(store)
        if entries and knows in entries:
            entries.remove(knows)


def rejects(store: object, name: str) -> bool:
    """True if runtimes run on ``store`` in this process and none knows ``name``."""
    with _lock:
        entries = list(_running.get(store, ()))
    return bool(entries) and not any(knows(name) for knows in entries)
