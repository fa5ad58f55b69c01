"""Regenerate the checked-in protobuf modules under ``outlast/grpc/gen/`` (``make protos``).

The vendored ``.proto`` files declare no package, so their messages would take the
same global names as the SDKs' own generated code (the Dapr SDK registers
``HistoryEvent`` and friends in the process-wide descriptor pool) and as the other
flavor's. Each flavor is therefore compiled under a package of its own
(``outlast.dapr`` / ``outlast.durabletask``) and a file path of its own; the wire
format does not depend on either, and the service is registered under the bare
name ``TaskHubSidecarService`` that the SDKs call (``server.py``).

Run with the grpcio-tools of the dev venv: ``python -m outlast.grpc.protos.generate``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
GEN = HERE.parent / "gen"
FLAVORS = {
    "dapr": [
        "attestation",
        "orchestration",
        "history_events",
        "orchestrator_actions",
        "orchestrator_service",
    ],
    # The Microsoft flavor: one file (microsoft/durabletask-protobuf).
    "durabletask": ["orchestrator_service"],
}


def _rewrite(text: str, flavor: str) -> str:
    text = re.sub(r"^package [^;]+;\n", "", text, flags=re.M)
    text = re.sub(
        r'^(syntax = "proto3";)$', rf"\1\npackage outlast.{flavor};", text, count=1, flags=re.M
    )
    return re.sub(
        r'^import "(?!google/)([^"]+)";', rf'import "outlast_{flavor}/\1";', text, flags=re.M
    )


def generate(flavor: str) -> None:
    names = FLAVORS[flavor]
    out = GEN / flavor
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src" / f"outlast_{flavor}"
        src.mkdir(parents=True)
        for name in names:
            text = (HERE / flavor / f"{name}.proto").read_text()
            (src / f"{name}.proto").write_text(_rewrite(text, flavor))
        dest = Path(tmp) / "out"
        dest.mkdir()
        import grpc_tools  # type: ignore[import-untyped]  # the dev venv's

        include = Path(grpc_tools.__file__).parent / "_proto"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "grpc_tools.protoc",
                f"-I{Path(tmp) / 'src'}",
                f"-I{include}",
                f"--python_out={dest}",
                f"--pyi_out={dest}",
                *(f"outlast_{flavor}/{n}.proto" for n in names),
            ],
            check=True,
        )
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        (out / "__init__.py").write_text(
            f'"""Generated from outlast/grpc/protos/{flavor}/ by `make protos`: do not edit."""\n'
        )
        for f in sorted((dest / f"outlast_{flavor}").iterdir()):
            text = f.read_text()
            text = re.sub(
                rf"^from outlast_{flavor} import ",
                f"from outlast.grpc.gen.{flavor} import ",
                text,
                flags=re.M,
            )
            (out / f.name).write_text(text)


if __name__ == "__main__":
    for flavor in sys.argv[1:] or list(FLAVORS):
        generate(flavor)
