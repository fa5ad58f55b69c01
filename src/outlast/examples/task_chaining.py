"""Task chaining: steps run in sequence, each output feeding the next; a failure
runs a compensating activity and re-raises."""

import outlast.dapr as wf


def task_chain_workflow(ctx: wf.DaprWorkflowContext, wf_input: int):
    try:
        result1 = yield ctx.call_activity(step1, input=wf_input)
        result2 = yield ctx.call_activity(step2, input=result1)
        result3 = yield ctx.call_activity(step3, input=result2)
    except Exception as e:
        yield ctx.call_activity(error_handler, input=str(e))
        raise
    return [result1, result2, result3]


def step1(ctx, activity_input):
    print(f"Step 1: Received input: {activity_input}.")
    # Do some work
    return activity_input + 1


def step2(ctx, activity_input):
    print(f"Step 2: Received input: {activity_input}.")
    # Do some work
    return activity_input * 2


def step3(ctx, activity_input):
    print(f"Step 3: Received input: {activity_input}.")
    # Do some work
    return activity_input ^ 2


def error_handler(ctx, error):
    print(f"Executing error handler: {error}.")
    # Do some compensating work


def register(wfr: wf.WorkflowRuntime) -> None:
    wfr.register_workflow(task_chain_workflow)
    for activity in (step1, step2, step3, error_handler):
        wfr.register_activity(activity)


def main(store: str | None = None) -> wf.WorkflowState | None:
    wfr = wf.WorkflowRuntime(store=store)
    register(wfr)
    with wfr:
        client = wf.DaprWorkflowClient(store=store)
        instance_id = client.schedule_new_workflow(workflow=task_chain_workflow, input=42)
        state = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30)
        assert state is not None
        print(f"Workflow {instance_id} {state.runtime_status.name}: {state.serialized_output}")
        return state


if __name__ == "__main__":
    main()
