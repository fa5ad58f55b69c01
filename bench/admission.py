"""A PostgreSQL commit's latency with a flow-control admission vs without (issue 14).

``python -m bench.admission --pg URL [--turns 20] [--commits 60] [--rounds 3]``

S2 on a shared machine is too noisy to show what an admission costs a commit
(``bench.limits``); this times the commits themselves. Each of ``--commits``
commits carries ``--turns`` turns, each scheduling one activity and finishing
the one its instance scheduled before: "without" writes the activities owned by
the worker, "with" queues them under ``concurrency=100_000`` (a limit that does
not bind) and has the commit admit them. The two alternate, each on a fresh
database; it prints the medians and their ratio, and asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench import pg
from outlast.core.flow import Limit
from outlast.store.base import ActivityRecord, Admission, CommitBatch
from outlast.store.postgres import PostgresStore
from outlast.testing.store_records import W1, create, turn

LIMITS = [Limit("inc", concurrency=100_000)]


def commits(url: str, turns: int, count: int, limited: bool) -> list[float]:
    """The seconds each commit took."""
    store = PostgresStore(url)
    try:
        ids = [f"i{n}" for n in range(turns)]
        for iid in ids:
            create(store, iid)
        store.fetch_messages(W1, 1e12, turns)  # the worker owns them
        took: list[float] = []
        for step in range(count):
            done = [(iid, step - 1) for iid in ids] if step else []
            batch = CommitBatch(W1, finished_activities=done)
            for iid in ids:
                act = ActivityRecord(
                    iid,
                    f"{iid}-e1",
                    step,
                    "inc",
                    "1",
                    None if limited else W1,
                    queued_at=1.0 if limited else None,
                )
                write = turn(iid, start=step, history=[f"e{step}"], activities=[act])
                write.update.release = False
                batch.turns.append(write)
            if limited:
                batch.admission = Admission(LIMITS, 100.0, turns, turns)
            started = time.perf_counter()
            store.commit(batch)
            took.append(time.perf_counter() - started)
            if limited and len(batch.admitted) != turns:
                raise RuntimeError(f"admitted {len(batch.admitted)} of {turns}")
        return took
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", required=True, help="a PostgreSQL maintenance database URL")
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--commits", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    made: list[str] = []

    def fresh() -> str:
        made.append(pg.create_database(args.pg, "admission"))
        return made[-1]

    took: dict[bool, list[float]] = {False: [], True: []}
    try:
        for _ in range(args.rounds):
            for limited in (False, True):
                took[limited] += commits(fresh(), args.turns, args.commits, limited)
    finally:
        for url in made:
            pg.drop_database(args.pg, url)
    plain, admitted = (statistics.median(took[k]) * 1000 for k in (False, True))
    print(f"commit of {args.turns} turns, without a limit: median {plain:.2f} ms")
    print(f"commit of {args.turns} turns, with an admission: median {admitted:.2f} ms")
    print(f"with/without = {admitted / plain:.2f}")


if __name__ == "__main__":
    main()
