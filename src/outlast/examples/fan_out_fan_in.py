"""Fan-out/fan-in: process a dynamic batch of work items in parallel, then
aggregate their results."""

import time

import outlast.dapr as wf


def batch_processing_workflow(ctx: wf.DaprWorkflowContext, wf_input: int):
    # get a batch of N work items to process in parallel
    work_batch = yield ctx.call_activity(get_work_batch, input=wf_input)

    # schedule N parallel tasks to process the work items and wait for all to complete
    parallel_tasks = [
        ctx.call_activity(process_work_item, input=work_item) for work_item in work_batch
    ]
    outputs = yield wf.when_all(parallel_tasks)

    # aggregate the results and send them to another activity
    total = sum(outputs)
    yield ctx.call_activity(process_results, input=total)
    return total


def get_work_batch(ctx, batch_size: int) -> list[int]:
    return [i + 1 for i in range(batch_size)]


def process_work_item(ctx, work_item: int) -> int:
    print(f"Processing work item: {work_item}.")
    time.sleep(5)
    result = work_item * 2
    print(f"Work item {work_item} processed. Result: {result}.")
    return result


def process_results(ctx, final_result: int):
    print(f"Final result: {final_result}.")


def register(wfr: wf.WorkflowRuntime) -> None:
    wfr.register_workflow(batch_processing_workflow)
    for activity in (get_work_batch, process_work_item, process_results):
        wfr.register_activity(activity)


def main(store: str | None = None, batch_size: int = 10) -> wf.WorkflowState | None:
    # Enough activity slots that the whole batch sleeps in parallel: ~5 s, not 50.
    wfr = wf.WorkflowRuntime(store=store, maximum_concurrent_activity_work_items=32)
    register(wfr)
    with wfr:
        client = wf.DaprWorkflowClient(store=store)
        instance_id = client.schedule_new_workflow(
            workflow=batch_processing_workflow, input=batch_size
        )
        state = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=60)
        assert state is not None
        print(f"Workflow {instance_id} {state.runtime_status.name}: {state.serialized_output}")
        return state


if __name__ == "__main__":
    main()
