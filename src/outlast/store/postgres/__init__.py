"""PostgreSQL store: many worker processes, on many machines, share one database.

Same records and the same contract as the SQLite store; what PostgreSQL changes:

Claiming work. ``fetch_messages`` claims the instances whose messages it returns,
in one statement: it locks their rows ``FOR UPDATE SKIP LOCKED`` and sets
``owner`` on the unowned ones. Two workers polling at once therefore split the
ready instances between them instead of both replaying the same one and throwing
one turn away; an instance another fetch is claiming right now is skipped, not
waited for. The claim commits with ``synchronous_commit = off``: a claim lost in a
server crash only means the instance is unowned again. What keeps two workers
from committing turns of one instance is still the conditional ``UPDATE`` in
``commit`` (``owner IS NULL OR owner = me``), exactly as on SQLite; the claim only
makes that check fail less often. Ownership lasts until the instance finishes or
its worker's lease in ``outlast_workers`` expires and another worker reaps it.
The same statement reads the claimed instances with their histories (for the
``load_instance`` calls the worker makes next), when the worker's next message
is due and whether unowned activities exist: a worker's look for work is one
round trip.

Group commit. One ``commit`` is one transaction and, in the common case, one
statement: the whole batch goes as one ``jsonb`` parameter, the turns' instance
rows are locked in instance-ID order and updated conditionally, and only the
accepted turns' writes follow (``commit.py``). With the COMMIT, that is two round
trips whatever the size of the batch, an admission of flow control included
(``flow.py``; three when turns start children, four with an admission). Client
writes are one statement each as well: ``create_instance`` (unless the ID is
taken), ``send_messages`` and ``set_status_if`` cost that statement and the
COMMIT. The COMMIT is a round trip of its own because the statement's reply
carries the transaction ID that the commit-outcome check needs
(``connection.py``).

Wake-ups: LISTEN/NOTIFY (``listener.py``). Reconnecting, retries, the
commit-outcome check and the check made on opening: ``connection.py``. Tables and
migrations: ``schema.py``. Statements run prepared (``prepared.py``) and take
their rows as JSON (``rows.py``).
"""

from __future__ import annotations

from outlast.store.postgres.schema import MIGRATIONS
from outlast.store.postgres.statements import CHANNEL
from outlast.store.postgres.store import PostgresStore

__all__ = ["CHANNEL", "MIGRATIONS", "PostgresStore"]
