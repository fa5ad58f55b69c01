"""Loading APP (``module:attribute``) for ``outlast serve`` and ``outlast worker``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import outlast.http
from outlast.http.serve import AppLoadError as ServeAppLoadError
from outlast.runtime.app import AppLoadError, load_app, load_runtime


def test_the_old_import_paths_still_work() -> None:
    assert outlast.http.load_runtime is load_runtime
    assert outlast.http.AppLoadError is ServeAppLoadError is AppLoadError


def _app(tmp_path: Path, source: str, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "some_app.py").write_text(source)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "some_app", raising=False)
    return str(tmp_path)


def test_load_app_puts_an_unbound_runtime_on_the_store_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_dir = _app(tmp_path, "import outlast\nruntime = outlast.WorkflowRuntime()\n", monkeypatch)
    monkeypatch.setenv("OUTLAST_STORE", "")
    url = f"sqlite:///{tmp_path}/chosen.db"
    runtime = load_app("some_app:runtime", store=url, app_dir=app_dir)
    assert runtime.store.url == f"sqlite:///{tmp_path}/chosen.db"
    runtime.store.close()


def test_load_app_refuses_a_runtime_bound_to_another_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = "import outlast\nruntime = outlast.WorkflowRuntime('memory://')\n"
    app_dir = _app(tmp_path, source, monkeypatch)
    monkeypatch.setenv("OUTLAST_STORE", "")
    with pytest.raises(AppLoadError, match="--store cannot change"):
        load_app("some_app:runtime", store=f"sqlite:///{tmp_path}/x.db", app_dir=app_dir)
    # The same store it is bound to is fine.
    monkeypatch.delitem(sys.modules, "some_app")
    assert load_app("some_app:runtime", store="memory://", app_dir=app_dir).store.url == (
        "memory://"
    )
