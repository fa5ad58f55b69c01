"""``InstanceID``: an instance's ID that also knows what its workflow returns.

``schedule_new_workflow(wf, input=...)`` returns one. It is a plain ``str`` (store
it, print it, send it anywhere); type checkers see ``InstanceID[R]``, where ``R`` is
the output type of ``wf`` (``-> Generator[Task[Any], Any, R]``), and
``wait_for_workflow_completion(iid)`` then returns a ``WorkflowState[R]`` whose
``output_as()`` is an ``R``, converted at run time too (a dataclass output comes
back as that dataclass).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from typing import Self

    import typing_extensions

    # The default lets a bare ``WorkflowState`` or ``InstanceID`` mean "of Any".
    OutT = typing_extensions.TypeVar("OutT", default=Any, covariant=True)
else:
    OutT = TypeVar("OutT", covariant=True)


class InstanceID(str, Generic[OutT]):
    """The ID of a workflow instance; ``output_type`` is the type its workflow
    returns (None when unknown, as for an ID read back from anywhere else)."""

    output_type: Any

    def __new__(cls, value: str, output_type: Any = None) -> Self:
        self = super().__new__(cls, value)
        self.output_type = output_type
        return self


def output_type_of(instance_id: str) -> Any:
    """The output type an ID carries, or None for a plain ``str``."""
    return getattr(instance_id, "output_type", None)
