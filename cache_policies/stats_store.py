"""The durable stats roll-up: batches of counts added to StatsRollup rows in PostgreSQL.

Each batch is applied in one transaction that first claims its id in StatsFlushBatch: a batch
retried after an unclear failure (the COMMIT was sent, the answer lost) is applied once.
The writes go through a connection of their own, in autocommit, so a flush never joins (nor
waits on, nor is rolled back with) the transaction of the request or test that triggered it.
"""

import logging
import os
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, connections

from cache_policies.models import StatsFlushBatch, StatsPeriod, StatsRollup

logger = logging.getLogger(__name__)
MINUTES_KEPT = 24 * 60
HOURS_KEPT = 30 * 24
BATCHES_KEPT_SECONDS = 86400
PRUNE_EVERY_SECONDS = 60
ROWS_PER_STATEMENT = 500
LOCK_TIMEOUT_MS = 500
STATEMENT_TIMEOUT_MS = 5000  # a flush runs off the request path; it must still never hang its thread

Row = tuple[str, str, int, str]  # (namespace, period, bucket, counter name)


@dataclass(frozen=True)
class Batch:
    rows: Counter  # Row -> amount
    id: uuid.UUID = field(default_factory=uuid.uuid4)


def rows_prune(rows: Counter, *, now: float) -> Counter:
    """Drop the minute and hour rows older than what is kept (counts held through a long outage)."""
    oldest = {StatsPeriod.MINUTE: int(now // 60) - MINUTES_KEPT, StatsPeriod.HOUR: int(now // 3600) - HOURS_KEPT}
    return Counter({row: n for row, n in rows.items() if row[2] >= oldest.get(row[1], 0)})


class _Store:
    """A private connection, used by one flushing thread at a time (stats.py holds the lock)."""

    def __init__(self):
        self.connection = None
        self.pid = os.getpid()
        self.pruned_at = 0.0
        self.failed_at = -float("inf")
        self.lock = threading.Lock()

    def _cursor(self):
        wanted = connections["default"].settings_dict
        if self.pid != os.getpid():  # forked: the parent's socket is not ours to use or to close
            self.connection, self.pid = None, os.getpid()
        if self.connection is not None and self.connection.settings_dict != wanted:  # the tests' database came or went
            self.connection.close()
            self.connection = None
        if self.connection is None:
            self.connection = type(connections["default"])(dict(wanted), alias="default")
            self.connection.inc_thread_sharing()  # one flusher at a time, from whichever thread
        return self.connection.cursor()

    def close(self) -> None:
        with self.lock:
            if self.connection is not None:
                self.connection.close()

    def apply(self, batch: Batch) -> bool:
        with self.lock:
            # After a failure, wait DB_RETRY_AFTER: a partitioned database costs a connect timeout per try, and
            # readers flush before they read.
            if time.monotonic() - self.failed_at < settings.DB_RETRY_AFTER:
                return False
            try:
                with self._cursor() as cursor:
                    _apply(cursor, batch)
                    if time.time() - self.pruned_at > PRUNE_EVERY_SECONDS:
                        _prune(cursor, now=time.time())
                        self.pruned_at = time.time()
            except DatabaseError as exc:
                logger.warning("stats not saved yet, will retry: %s", exc)
                self.connection.close()  # a broken connection, or one left inside the transaction: reopened next time
                self.failed_at = time.monotonic()
                return False
            except BaseException:
                if self.connection is not None:
                    self.connection.close()
                raise
        return True


def _apply(cursor, batch: Batch) -> None:
    table, batches = StatsRollup._meta.db_table, StatsFlushBatch._meta.db_table
    # On any failure the caller closes the connection, which ends this transaction without its changes.
    cursor.execute("BEGIN")
    cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(STATEMENT_TIMEOUT_MS)])
    # Give up a lock wait before PostgreSQL's deadlock check (1 s) would pick a victim: a TRUNCATE or another
    # schema change then goes ahead, and this batch is simply retried later (counted once, by its id).
    cursor.execute("SELECT set_config('lock_timeout', %s, true)", [str(LOCK_TIMEOUT_MS)])
    cursor.execute(f"INSERT INTO {batches} (id, applied_at) VALUES (%s, now()) ON CONFLICT (id) DO NOTHING", [batch.id])
    if cursor.rowcount == 1:
        # Sorted: workers lock the rows they share in one order, so two flushes never deadlock.
        rows = [(*row, amount) for row, amount in sorted(batch.rows.items()) if amount]
        for first in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[first:first + ROWS_PER_STATEMENT]
            cursor.execute(
                f"INSERT INTO {table} (namespace, period, bucket, name, value) "
                f"VALUES {', '.join(['(%s, %s, %s, %s, %s)'] * len(chunk))} "
                f"ON CONFLICT (namespace, period, bucket, name) DO UPDATE SET value = {table}.value + EXCLUDED.value",
                [value for row in chunk for value in row],
            )
    cursor.execute("COMMIT")


def _prune(cursor, *, now: float) -> None:
    table, batches = StatsRollup._meta.db_table, StatsFlushBatch._meta.db_table
    cursor.execute(
        f"DELETE FROM {table} WHERE (period = %s AND bucket < %s) OR (period = %s AND bucket < %s)",
        [StatsPeriod.MINUTE, int(now // 60) - MINUTES_KEPT, StatsPeriod.HOUR, int(now // 3600) - HOURS_KEPT],
    )
    cursor.execute(f"DELETE FROM {batches} WHERE applied_at < now() - make_interval(secs => %s)", [BATCHES_KEPT_SECONDS])


_store = _Store()


def batch_apply(*, batch: Batch) -> bool:
    """Add a batch to the roll-up; False when the database could not take it (retry with the same batch)."""
    return _store.apply(batch)


def rollup_delete() -> None:
    """Forget every count (the tests' fresh start), through the flush's own autocommit connection."""
    with _store.lock, _store._cursor() as cursor:
        cursor.execute(f"DELETE FROM {StatsRollup._meta.db_table}")
        cursor.execute(f"DELETE FROM {StatsFlushBatch._meta.db_table}")


def connection_close() -> None:
    """Close the flush's connection (a flush after this opens a new one)."""
    _store.close()
