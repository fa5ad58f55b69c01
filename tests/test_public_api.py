import outlast
import outlast.errors


def test_all_is_pinned() -> None:
    assert sorted(outlast.__all__) == sorted(
        [
            "ActivityContext",
            "ActivityTimeoutError",
            "FailureDetails",
            "InstanceAlreadyExistsError",
            "InstanceID",
            "InstanceNotFoundError",
            "InvalidStateError",
            "MissingExtraError",
            "NonDeterminismError",
            "NonRetryableError",
            "OutlastError",
            "PayloadTooLargeError",
            "Rate",
            "RegistrationError",
            "RetryPolicy",
            "Schedule",
            "ScheduleAlreadyExistsError",
            "ScheduleNotFoundError",
            "ScheduleRun",
            "SerializationError",
            "StoreError",
            "Task",
            "TaskFailedError",
            "TimeoutError",
            "UnknownActivityError",
            "UnknownWorkflowError",
            "WorkflowClient",
            "WorkflowContext",
            "WorkflowRuntime",
            "WorkflowState",
            "WorkflowStatus",
            "WorkflowTimeoutError",
            "__version__",
            "when_all",
            "when_any",
        ]
    )
    for name in outlast.__all__:
        assert hasattr(outlast, name)


def test_every_error_derives_from_the_base_and_is_in_the_tree() -> None:
    doc = outlast.errors.__doc__ or ""
    for name in dir(outlast.errors):
        obj = getattr(outlast.errors, name)
        if (
            isinstance(obj, type)
            and issubclass(obj, Exception)
            and obj.__module__ == "outlast.errors"
        ):
            assert issubclass(obj, outlast.OutlastError), name
            assert name in doc, f"{name} missing from the tree in errors.py's docstring"
