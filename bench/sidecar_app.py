"""The Dapr SDK worker of bench/sidecar.py: S2's 10-step chain and the probes
(``sidecar_workflows.py``) as Dapr workflows (``python -m bench.sidecar_app PORT``)."""

from __future__ import annotations

import signal
import sys
import threading

import dapr.ext.workflow as wf

from bench.sidecar_workflows import ACTIVITIES, WORKFLOWS


def main(port: str) -> None:
    runtime = wf.WorkflowRuntime(host="127.0.0.1", port=port)
    for w in WORKFLOWS:
        runtime.register_workflow(w)
    for a in ACTIVITIES:
        runtime.register_activity(a)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    runtime.start()
    stop.wait()
    runtime.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
