"""Monitor: an eternal workflow that checks a job's health, alerts when it turns
unhealthy, sleeps, and starts over with continue-as-new."""

import random
from dataclasses import dataclass
from datetime import timedelta

import outlast.dapr as wf


@dataclass
class JobStatus:
    job_id: str
    is_healthy: bool


def status_monitor_workflow(ctx: wf.DaprWorkflowContext, job: JobStatus):
    # poll a status endpoint associated with this job
    status = yield ctx.call_activity(check_status, input=job)
    if not ctx.is_replaying:
        print(f"Job '{job.job_id}' is {status}.")

    if status == "healthy":
        job.is_healthy = True
        next_sleep_interval = 60  # check less frequently when healthy
    else:
        if job.is_healthy:
            job.is_healthy = False
            ctx.call_activity(send_alert, input=f"Job '{job.job_id}' is unhealthy!")
        next_sleep_interval = 5  # check more frequently when unhealthy

    yield ctx.create_timer(
        fire_at=ctx.current_utc_datetime + timedelta(seconds=next_sleep_interval)
    )

    # restart from the beginning with a new JobStatus input
    ctx.continue_as_new(job)


def check_status(ctx, _) -> str:
    return random.choice(["healthy", "unhealthy"])


def send_alert(ctx, message: str):
    print(f"*** Alert: {message}")


def register(wfr: wf.WorkflowRuntime) -> None:
    wfr.register_workflow(status_monitor_workflow)
    wfr.register_activity(check_status)
    wfr.register_activity(send_alert)


def main(store: str | None = None, seconds: float = 12.0) -> wf.WorkflowState | None:
    import time

    wfr = wf.WorkflowRuntime(store=store)
    register(wfr)
    with wfr:
        client = wf.DaprWorkflowClient(store=store)
        instance_id = client.schedule_new_workflow(
            workflow=status_monitor_workflow, input=JobStatus("job-1", is_healthy=True)
        )
        # Let it check a few times, then stop the eternal workflow.
        time.sleep(seconds)
        client.terminate_workflow(instance_id, output="stopped by the demo")
        state = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30)
        assert state is not None
        print(f"Monitor {instance_id} {state.runtime_status.name}")
        return state


if __name__ == "__main__":
    main()
