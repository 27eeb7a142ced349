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
"""

import hashlib
import logging
import threading
from collections.abc import Callable, Iterable

from django.db import DatabaseError, InterfaceError, connection, transaction

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


def document_subject(document_id: int) -> str:
    return f"doc:{int(document_id)}"


def question_subject(question: str) -> str:
    """Every entry cached for a question, in any scope: what a targeted purge aims at."""
    return "q:" + keys.text_hash(question)[:40]


def entry_subject(key: str) -> str:
    """An entry's own subject, for a removal aimed at it (a displaced answer); keys are hashed to a fixed size."""
    return "entry:" + hashlib.sha256(key.encode()).hexdigest()[:40]


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

    def on_mark(self, subject: str, hook: Callable[[], None]) -> None:
        """Run hook when a mark of subject is read (a process-held value built from it must reload)."""
        self._hooks.setdefault(subject, []).append(hook)

    def sync(self) -> int | None:
        """Read the marks since the last read; the sequence to stamp new values with (None: unknown)."""
        if held.database.is_open:
            return self.head
        try:
            rows = self._since(self.head or 0)
        except (DatabaseError, InterfaceError) as exc:
            held.database.record_failure()
            logger.warning("change ledger unavailable, trusting the marks read at %s: %s", self.head, exc)
            return self.head
        held.database.record_success()
        return self._apply(rows)

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
        for subject in fired & self._hooks.keys():
            for hook in self._hooks[subject]:
                hook()
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
