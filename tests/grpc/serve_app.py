"""An empty APP for ``outlast serve`` in the sidecar's fault tests: every workflow
runs in the SDK worker; a short lease so a killed server's instances are taken
over quickly by the next one."""

from __future__ import annotations

from outlast import WorkflowRuntime

runtime = WorkflowRuntime(lease_seconds=2.0, poll_interval=0.05)
