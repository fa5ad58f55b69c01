"""Every example workflow on one runtime: what ``outlast serve`` serves by default.

Serve your own the same way: ``outlast serve mymodule:runtime``.
"""

import outlast.dapr as wf
from outlast.examples import (
    child_workflows,
    error_handling,
    fan_out_fan_in,
    human_interaction,
    monitor,
    order_processing,
    task_chaining,
    versioning,
)

EXAMPLES = (
    task_chaining,
    fan_out_fan_in,
    human_interaction,
    monitor,
    error_handling,
    order_processing,
    child_workflows,
    versioning,
)


def build(store: str | None = None) -> wf.WorkflowRuntime:
    runtime = wf.WorkflowRuntime(store=store)
    for example in EXAMPLES:
        example.register(runtime)
    return runtime


runtime = build()
