"""Never a stale answer, whatever Redis forgets: a change ledger in PostgreSQL, checked at read time.

Each change that can make a cached value wrong writes a mark *in the transaction that makes the
change*: the subject it touched (a document, the prompt template, the policies, an entry displaced by
new text) and the ledger's next sequence number. Each request first reads the marks newer than the
last ones its process saw: one indexed query, which finds nothing almost always. What a request
stores carries a stamp: the sequence it started at and the subjects its value depends on. A value is
served only if none of its subjects was marked after its stamp.

So Redis may evict the dependency tags, flush, restart empty or from an older snapshot, or fail over
to a replica that missed the purge: whatever entry it still returns is checked against PostgreSQL's
ledger, never against something Redis could have lost. The purges in Redis stay, to free memory at once.

Ordering: the counter row is incremented by the changing transaction and stays locked until it
commits, so sequence numbers become visible in commit order and "marks after N" never skips one that
committed late. A request that started before a change commits stamps its values with an older
sequence; they are refused from the moment the change is visible.

PostgreSQL down: nothing can change (every change is a commit), so the marks last read still hold;
the ledger is not asked again for DB_RETRY_AFTER seconds (the circuit in held.py).

Cost: the read is one round trip on every request, so a request sends it without waiting
(read_started) and waits for its reply only after its own Redis round trip; an exact hit then waits
on the slower of the two, not on both. It goes through libpq directly (psycopg.pq): Django's cursor
would wait at once, and would first spend a round trip on its health check. The read is that check:
a connection that fails it is closed and the read tried once on a new one, and a connection that
passes is marked checked for the rest of the request.
"""

import hashlib
import logging
import select
import threading
import time
import weakref
from collections.abc import Callable, Iterable

import psycopg
from django.conf import settings
from django.db import DatabaseError, InterfaceError, connection, transaction
from psycopg import pq

from cache_policies import held, keys

logger = logging.getLogger(__name__)

TEMPLATE = "template"
POLICIES = "policies"

_INCREMENT_SQL = """
    INSERT INTO cache_policies_freshnesscounter (id, seq) VALUES (1, 1)
    ON CONFLICT (id) DO UPDATE SET seq = cache_policies_freshnesscounter.seq + 1 RETURNING seq
"""
_MARK_SQL = """
    INSERT INTO cache_policies_freshnessmark (subject, seq, marked_at) SELECT s, %s, now() FROM unnest(%s::text[]) s
    ON CONFLICT (subject) DO UPDATE SET seq = EXCLUDED.seq, marked_at = EXCLUDED.marked_at
"""
# One statement, so one snapshot: the counter and the marks it covers are read together.
_SINCE_SQL = """
    SELECT NULL, seq FROM cache_policies_freshnesscounter WHERE id = 1
    UNION ALL
    SELECT subject, seq FROM cache_policies_freshnessmark WHERE seq > %s
"""
# Prepared once per connection: parsed and planned on every request, the read cost PostgreSQL about as
# much CPU again as running it (98 vs 55 µs a read, measured), on cores the hit path shares with it.
# Prepared at the protocol level (what PgBouncer's max_prepared_statements tracks), not with SQL PREPARE.
_SINCE_STATEMENT = b"ragsite_ledger_since"
_SINCE_PQ = _SINCE_SQL.replace("%s", "$1::bigint").encode()
# The psycopg connections that hold the statement; a statement is not undone by a rollback.
_prepared: "weakref.WeakSet[psycopg.Connection]" = weakref.WeakSet()
# A sent read whose reply does not come within this is abandoned with its connection.
_REPLY_TIMEOUT = settings.DB_STATEMENT_TIMEOUT_MS / 1000 + 1
_FAILURES = (DatabaseError, InterfaceError, psycopg.Error)


def document_subject(document_id: int) -> str:
    return f"doc:{int(document_id)}"


def question_subject(question: str) -> str:
    """Every entry cached for a question, in any scope: what a targeted purge aims at."""
    return "q:" + keys.text_hash(question)[:40]


def entry_subject(key: str) -> str:
    """An entry's own subject, for a removal aimed at it (a displaced answer); keys are hashed to a fixed size."""
    return "entry:" + hashlib.sha256(key.encode()).hexdigest()[:40]


_DOCUMENTS_MARKED_SINCE_SQL = """
    SELECT EXISTS (SELECT 1 FROM cache_policies_freshnessmark WHERE seq > %s AND subject LIKE 'doc:%%')
"""


def documents_changed_since(*, seq: int) -> bool:
    """Whether any document's change committed after sequence seq (one indexed query)."""
    with connection.cursor() as cursor:
        cursor.execute(_DOCUMENTS_MARKED_SINCE_SQL, [seq])
        return cursor.fetchone()[0]


def subjects_mark(*, subjects: Iterable[str]) -> int:
    """Record that these subjects change now, in the caller's transaction. Returns the change's sequence."""
    subjects = sorted(set(subjects))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_INCREMENT_SQL)
        seq = cursor.fetchone()[0]
        if subjects:
            cursor.execute(_MARK_SQL, [seq, subjects])
    return seq


class Ledger:
    """What this process knows of the ledger: the last sequence read and every subject's last mark."""

    def __init__(self):
        self._lock = threading.Lock()
        self._hooks: dict[str, list[Callable[[], None]]] = {}
        self.forget()

    def forget(self) -> None:
        self.head: int | None = None  # None: never read, nothing can be trusted
        self.marks: dict[str, int] = {}
        # Moves when held values are dropped (a hook ran): whatever was built from them before may be stale.
        self.generation = getattr(self, "generation", 0) + 1

    def on_mark(self, subject: str, hook: Callable[[], None]) -> None:
        """Run hook when a mark of subject is read (a process-held value built from it must reload)."""
        self._hooks.setdefault(subject, []).append(hook)

    def sync(self) -> int | None:
        """Read the marks since the last read; the sequence to stamp new values with (None: unknown)."""
        return self.read_started().result()

    def read_started(self) -> "LedgerRead":
        """Send the read of the marks since the last read; its result() waits for the reply. Until then
        this thread's database connection is busy: run only non-database work (a Redis round trip)."""
        return LedgerRead(self)

    def _since(self, seq: int) -> list[tuple[str | None, int]]:
        with connection.cursor() as cursor:
            cursor.execute(_SINCE_SQL, [seq])
            return cursor.fetchall()

    def _apply(self, rows: list[tuple[str | None, int]]) -> int:
        head = next((seq for subject, seq in rows if subject is None), 0)
        fired: set[str] = set()
        with self._lock:
            if self.head is not None and head < self.head:
                # The ledger went back (a database restored, a test's flush): start again from nothing.
                self.forget()
                rows = self._since(0)
            for subject, seq in rows:
                if subject is not None and seq > self.marks.get(subject, 0):
                    self.marks[subject] = seq
                    fired.add(subject)
            self.head = max(head, self.head or 0)
        hooked = fired & self._hooks.keys()
        for subject in hooked:
            for hook in self._hooks[subject]:
                hook()
        if hooked:
            self.generation += 1  # after the hooks: a reader that saw the old number may hold what they dropped
        return self.head

    def current(self, stamp: object) -> bool:
        """Whether a stored stamp ({"seq": n, "subjects": [...]}) is older than no mark of its subjects."""
        if self.head is None or not isinstance(stamp, dict):
            return False
        seq, subjects = stamp.get("seq"), stamp.get("subjects")
        if not isinstance(seq, int) or not isinstance(subjects, list):
            return False
        marks = self.marks
        return all(marks.get(subject, 0) <= seq for subject in subjects)


class LedgerRead:
    """One request's ledger read, in flight from construction until result()."""

    def __init__(self, ledger: Ledger):
        self._ledger = ledger
        self._pgconn: pq.abc.PGconn | None = None
        self._error: Exception | None = None
        self._reused = False
        if held.database.is_open:
            return
        try:
            self._reused = connection.connection is not None
            self._pgconn = _send(seq=ledger.head or 0)
        except _FAILURES as exc:
            self._error = exc

    def result(self) -> int | None:
        """Wait for the reply and apply it; the sequence to stamp with (the last known one if PostgreSQL failed)."""
        ledger = self._ledger
        if self._pgconn is None and self._error is None:
            return ledger.head  # the database circuit is open
        try:
            try:
                rows = self._received()
            except _FAILURES:
                if not self._reused:
                    raise
                # A kept connection the server dropped (a restart, an idle timeout): once more, on a new one.
                connection.close()
                rows = _received(_send(seq=ledger.head or 0))
        except _FAILURES as exc:
            _abandon()
            held.database.record_failure()
            logger.warning("change ledger unavailable, trusting the marks read at %s: %s", ledger.head, exc)
            return ledger.head
        held.database.record_success()
        connection.health_check_done = True  # this read was the connection's check for the request
        return ledger._apply(rows)

    def _received(self) -> list[tuple[str | None, int]]:
        if self._error is not None:
            raise self._error
        return _received(self._pgconn)


def _send(*, seq: int) -> pq.abc.PGconn:
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    if connection.connection not in _prepared:
        prepared = pgconn.prepare(_SINCE_STATEMENT, _SINCE_PQ)  # waits, once per connection
        if prepared.status != pq.ExecStatus.COMMAND_OK:
            error = (prepared.error_message or b"").decode(errors="replace").strip()
            raise psycopg.DatabaseError(f"change ledger read not prepared: {error}")
        _prepared.add(connection.connection)
    pgconn.send_query_prepared(_SINCE_STATEMENT, [str(int(seq)).encode()])
    while pgconn.flush():  # 1: not all sent yet (psycopg's connections are non-blocking)
        _wait(pgconn, write=True)
    return pgconn


def _received(pgconn: pq.abc.PGconn) -> list[tuple[str | None, int]]:
    """Every result of the sent read, drained, so the connection is idle again for Django."""
    deadline = time.monotonic() + _REPLY_TIMEOUT
    rows: list[tuple[str | None, int]] = []
    error = None
    while True:
        # What already arrived is read first: the reply is usually in (the Redis round trip ran meanwhile),
        # and a select() would only give up the GIL, which a busy worker's other threads then hold.
        pgconn.consume_input()
        while pgconn.is_busy():
            _wait(pgconn, deadline=deadline)
            pgconn.consume_input()
        result = pgconn.get_result()
        if result is None:
            break
        if result.status != pq.ExecStatus.TUPLES_OK:
            error = (result.error_message or b"").decode(errors="replace").strip()
            continue
        for row in range(result.ntuples):
            subject = result.get_value(row, 0)
            rows.append((subject.decode() if subject is not None else None, int(result.get_value(row, 1))))
    if error is not None:
        raise psycopg.DatabaseError(f"change ledger read failed: {error}")
    return rows


def _wait(pgconn: pq.abc.PGconn, *, write: bool = False, deadline: float | None = None) -> None:
    remaining = _REPLY_TIMEOUT if deadline is None else deadline - time.monotonic()
    readers, writers = ([], [pgconn.socket]) if write else ([pgconn.socket], [])
    if not any(select.select(readers, writers, [], max(remaining, 0))):
        raise psycopg.OperationalError(f"change ledger read: no reply within {_REPLY_TIMEOUT:.0f} s")


def _abandon() -> None:
    """Close a connection left mid-read, so no later query of this thread finds it busy."""
    try:
        connection.close()
    except _FAILURES:
        pass


ledger = Ledger()
held.on_forget_all(ledger.forget)


def stamp_extended(stamp: object, *, subjects: Iterable[str]) -> object:
    """A copy of a stored stamp that also depends on subjects (an alias: its own question too)."""
    if not isinstance(stamp, dict) or not isinstance(stamp.get("subjects"), list):
        return stamp
    return {**stamp, "subjects": sorted({*stamp["subjects"], *subjects})}


def stamp(*, seq: int | None, subjects: Iterable[str]) -> dict | None:
    """What a stored value carries; None (store nothing) when the ledger could not be read."""
    if seq is None:
        return None
    return {"seq": seq, "subjects": sorted(set(subjects))}
