"""The client's operations on many instances: listing pages, purging by filter,
and purging an instance with its child workflows."""

from __future__ import annotations

from datetime import datetime

from outlast.client import paging
from outlast.client.state import state_of
from outlast.core.status import TERMINAL_STATUSES, WorkflowStatus
from outlast.errors import InvalidStateError
from outlast.store import Store
from outlast.store.base import InstanceQuery


class BulkOperations:
    """Mixed into :class:`WorkflowClient`; needs only its store."""

    _store: Store

    def purge_workflow(self, instance_id: str, *, recursive: bool = True) -> bool:
        """Delete a finished instance and its history (and, by default, its child
        workflows'); False if there was no such instance. Raises InvalidStateError,
        purging nothing, when it or one of its children has not finished."""
        if self._store.get_instance(instance_id) is None:
            return False
        ids = [instance_id]
        if recursive:
            ids.extend(self._descendants(instance_id))
        # The store checks each instance has finished and purges all or nothing.
        self._store.purge_instances(ids)
        return True

    def _descendants(self, parent_id: str) -> list[str]:
        found: list[str] = []
        query = InstanceQuery(parent_instance_id=parent_id, limit=500)
        while children := self._store.list_instances(query):
            for child in children:
                found.append(child.instance_id)
                found.extend(self._descendants(child.instance_id))
            query.after = (children[-1].created_at, children[-1].instance_id)
        return found

    # --- queries -------------------------------------------------------------------

    def list_workflows(
        self,
        *,
        status: paging.StatusFilter = None,
        name: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        instance_id_prefix: str | None = None,
        parent_instance_id: str | None = None,
        page_size: int = 100,
        continuation_token: str | None = None,
        fetch_payloads: bool = False,
    ) -> paging.WorkflowPage:
        """One page of instances, oldest first, filtered in the store. Pass the page's
        ``continuation_token`` back to get the next page; it is None on the last.
        ``instance_id_prefix``: IDs that start so; ``parent_instance_id``: only the
        child workflows of that instance."""
        if not 1 <= page_size <= 10_000:
            raise ValueError("page_size must be between 1 and 10000")
        query = paging.query(
            status=status,
            name=name,
            created_after=created_after,
            created_before=created_before,
            instance_id_prefix=instance_id_prefix,
            parent_instance_id=parent_instance_id,
            limit=page_size + 1,
        )
        if continuation_token is not None:
            query.after = paging.decode_token(continuation_token)
        records = self._store.list_instances(query)
        token = None
        if len(records) > page_size:
            records = records[:page_size]
            last = records[-1]
            token = paging.encode_token(last.created_at, last.instance_id)
        return paging.WorkflowPage(
            [state_of(r, fetch_payloads=fetch_payloads) for r in records], token
        )

    def count_workflows(
        self,
        *,
        status: paging.StatusFilter = None,
        name: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        instance_id_prefix: str | None = None,
    ) -> paging.StatusCounts:
        """How many instances match the filter, by status (statuses with none left
        out). Without a filter but statuses, one index-only count per status; with
        one, at most 100,000 matching instances are counted (then ``exact`` is
        False, as it is when PostgreSQL estimates a large status)."""
        counts = self._store.count_instances(
            paging.query(
                status=status,
                name=name,
                created_after=created_after,
                created_before=created_before,
                instance_id_prefix=instance_id_prefix,
            )
        )
        return paging.StatusCounts(
            {WorkflowStatus(s): n for s, n in counts.by_status.items()}, counts.exact
        )

    def purge_workflows(
        self,
        *,
        status: paging.StatusFilter = None,
        created_before: datetime | None = None,
        name: str | None = None,
        created_after: datetime | None = None,
        instance_id_prefix: str | None = None,
    ) -> int:
        """Purge every finished instance matching the filter; return how many."""
        query = paging.query(
            status=status,
            name=name,
            created_after=created_after,
            created_before=created_before,
            instance_id_prefix=instance_id_prefix,
            limit=500,
        )
        query.statuses = query.statuses or sorted(TERMINAL_STATUSES)
        unfinished = [s for s in query.statuses if s not in TERMINAL_STATUSES]
        if unfinished:
            raise InvalidStateError(
                f"only finished instances can be purged, not {', '.join(unfinished)}"
            )
        total = 0
        while True:
            records = self._store.list_instances(query)
            if not records:
                return total
            total += self._store.purge_instances([r.instance_id for r in records])
            last = records[-1]
            query.after = (last.created_at, last.instance_id)
