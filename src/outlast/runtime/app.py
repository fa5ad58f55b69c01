"""Loading an application's runtime from an import string, as ``outlast serve``
and ``outlast worker`` do (``module:attribute``, like uvicorn's APP)."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any, Final

from outlast.runtime.runtime import WorkflowRuntime
from outlast.store import is_store_of

EXAMPLES_APP: Final = "outlast.examples.app:runtime"


class AppLoadError(Exception):
    """APP could not be imported, does not name a WorkflowRuntime, or is bound to
    another store than the one asked for."""


def load_runtime(target: str, *, app_dir: str | None = ".") -> WorkflowRuntime:
    """Import ``module:attribute`` (like uvicorn's APP) and return the
    :class:`WorkflowRuntime` it names. ``app_dir`` is put first on ``sys.path``."""
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise AppLoadError(f"APP must look like 'module:attribute', not {target!r}")
    if app_dir is not None and app_dir not in sys.path:
        sys.path.insert(0, app_dir)
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        if e.name is not None and module_name.startswith(e.name):
            raise AppLoadError(f"cannot import module {module_name!r}: {e}") from e
        raise
    value: Any = module
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise AppLoadError(f"module {module_name!r} has no attribute {attribute!r}") from None
    if not isinstance(value, WorkflowRuntime):
        raise AppLoadError(f"{target} is a {type(value).__name__}, not a WorkflowRuntime")
    return value


def load_app(
    target: str, *, store: str | None = None, app_dir: str | None = "."
) -> WorkflowRuntime:
    """:func:`load_runtime`, on the store ``store`` if given: a runtime built
    without a store URL opens ``$OUTLAST_STORE`` lazily, so it is set before APP is
    imported (even import-time code sees it). A runtime bound to another store
    raises AppLoadError rather than run somewhere the caller did not ask for."""
    if store:
        os.environ["OUTLAST_STORE"] = store
    runtime = load_runtime(target, app_dir=app_dir)
    if store and not is_store_of(runtime.store, store):
        raise AppLoadError(
            f"{target} runs on the store {runtime.store.url}, which --store cannot change; "
            "build the runtime without a store URL to choose one with --store"
        )
    return runtime
