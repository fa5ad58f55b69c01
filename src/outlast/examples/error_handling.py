"""Error handling: a flaky step retried with exponential backoff (durably: the
waits are timers in history), and compensation when retries run out."""

from datetime import timedelta

import outlast.dapr as wf

retry_policy = wf.RetryPolicy(
    first_retry_interval=timedelta(seconds=0.2),
    backoff_coefficient=2.0,
    max_retry_interval=timedelta(seconds=2),
    max_number_of_attempts=4,
)

attempts: dict[str, int] = {}


def booking_workflow(ctx: wf.DaprWorkflowContext, trip: dict):
    booked = []
    try:
        for step in ("book_flight", "book_hotel", "book_car"):
            booked.append((yield ctx.call_activity(step, input=trip, retry_policy=retry_policy)))
    except wf.TaskFailedError as e:
        # Retries expired: undo what was done, newest first, then fail the workflow.
        for booking in reversed(booked):
            yield ctx.call_activity(cancel_booking, input=booking)
        raise RuntimeError(f"trip not booked: {e.details.message}") from e
    return booked


def book_flight(ctx, trip: dict) -> str:
    return _flaky(ctx, f"flight to {trip['to']}", trip.get("flight_failures", 0))


def book_hotel(ctx, trip: dict) -> str:
    return _flaky(ctx, f"hotel in {trip['to']}", trip.get("hotel_failures", 0))


def book_car(ctx, trip: dict) -> str:
    return _flaky(ctx, f"car in {trip['to']}", trip.get("car_failures", 0))


def _flaky(ctx, what: str, failures: int) -> str:
    key = f"{ctx.workflow_id}/{what}"
    attempts[key] = attempts.get(key, 0) + 1
    if attempts[key] <= failures:
        print(f"Booking {what}: attempt {attempts[key]} failed")
        raise ConnectionError(f"{what}: service unavailable")
    print(f"Booked {what} on attempt {attempts[key]}")
    return what


def cancel_booking(ctx, booking: str) -> None:
    print(f"Compensating: cancelled {booking}")


def register(wfr: wf.WorkflowRuntime) -> None:
    wfr.register_workflow(booking_workflow)
    for activity in (book_flight, book_hotel, book_car, cancel_booking):
        wfr.register_activity(activity)


def main(store: str | None = None) -> list[wf.WorkflowState]:
    wfr = wf.WorkflowRuntime(store=store)
    register(wfr)
    states = []
    with wfr:
        client = wf.DaprWorkflowClient(store=store)
        # Two transient hotel failures: retried, and the trip is booked.
        ok = client.schedule_new_workflow(
            workflow=booking_workflow, input={"to": "Lisbon", "hotel_failures": 2}
        )
        # The car service never recovers: flight and hotel are cancelled again.
        bad = client.schedule_new_workflow(
            workflow=booking_workflow, input={"to": "Oslo", "car_failures": 99}
        )
        for instance_id in (ok, bad):
            state = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30)
            assert state is not None
            failure = state.failure_details
            detail = state.serialized_output or (failure and failure.message)
            print(f"Workflow {instance_id} {state.runtime_status.name}: {detail}")
            states.append(state)
    return states


if __name__ == "__main__":
    main()
