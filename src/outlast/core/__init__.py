"""The pure core: history events and actions, their codec, tasks, retry policies,
the registry, the payload codec, the executor that replays a workflow generator,
and the function that turns a turn's actions into history records.

Nothing here does I/O, reads a clock, starts a thread or imports another layer of
outlast (a contract in ``make test`` checks it).
"""
