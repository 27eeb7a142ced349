"""Which job workers are alive, as PostgreSQL sees them: a worker holds a session advisory lock while it runs.

django-tasks-db marks a job RUNNING when a worker claims it and nothing else: a worker killed mid-job
(SIGKILL, OOM, a lost machine) leaves its job RUNNING forever. PostgreSQL releases a session's
advisory locks when its connection ends, so a lock nobody holds means the worker that claimed the
job is gone, whatever its host, with no clock or timeout to tune. Such a job goes back to READY
(jobs must be idempotent), or to FAILED once JOBS_MAX_ATTEMPTS workers died running it, so a job
that kills its worker cannot crash-loop the queue.

The lease is held on a connection of its own: Django closes and reopens the worker's connection
between jobs (close_old_connections), which would drop a lock held there. If the database restarts,
the lease is lost until the worker renews it (every JOBS_REAP_SECONDS), and meanwhile a live worker's
job may be requeued and run twice: harmless for idempotent jobs.
"""

import logging
import os
import socket

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.utils.crypto import get_random_string
from django_tasks import TaskResultStatus
from django_tasks.signals import task_finished
from django_tasks_db.models import DBTaskResult

logger = logging.getLogger(__name__)

_LOCK_SQL = "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))"
_UNLOCK_SQL = "SELECT pg_advisory_unlock(hashtextextended(%s, 0))"


class WorkerLost(RuntimeError):
    """The worker running a job died before it finished."""


def worker_id_new() -> str:
    """host:pid:random, within django-tasks-db's 64 characters; the pid lets an operator find the process."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{get_random_string(8)}"


def worker_pid(worker_id: str) -> int | None:
    parts = worker_id.split(":")
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def _lock_name(worker_id: str) -> str:
    return "ragsite-jobs:" + worker_id


class Lease:
    """The advisory lock saying this worker is alive, on a connection kept for it alone."""

    def __init__(self, worker_id: str):
        self.worker_id = worker_id
        self._connection = connections.create_connection("default")
        self._connection.inc_thread_sharing()  # taken in the worker's thread, renewed in its watch thread

    def take(self) -> None:
        with self._connection.cursor() as cursor:
            cursor.execute(_LOCK_SQL, [_lock_name(self.worker_id)])
            if not cursor.fetchone()[0]:
                raise RuntimeError(f"worker id {self.worker_id} is already in use")

    def renew(self) -> None:
        """Take it again (a session's advisory locks nest); after a database restart, on a new connection."""
        try:
            self.take()
        except DatabaseError:
            self._connection.close()
            self.take()

    def release(self) -> None:
        self._connection.close()


def _worker_gone(worker_id: str) -> bool:
    """Whether nobody holds worker_id's lease: taken (then given back) from this connection, it was free."""
    with connections["default"].cursor() as cursor:
        cursor.execute(_LOCK_SQL, [_lock_name(worker_id)])
        free = cursor.fetchone()[0]
        if free:
            cursor.execute(_UNLOCK_SQL, [_lock_name(worker_id)])
    return free


def orphans_requeue() -> int:
    """Put back the RUNNING jobs whose worker died (FAILED after JOBS_MAX_ATTEMPTS). Returns how many."""
    failed: list[DBTaskResult] = []
    count = 0
    with transaction.atomic():
        for result in DBTaskResult.objects.running().select_for_update(skip_locked=True):
            if not result.worker_ids or not _worker_gone(result.worker_ids[-1]):
                continue
            count += 1
            if len(result.worker_ids) >= settings.JOBS_MAX_ATTEMPTS:
                result.set_failed(WorkerLost(f"{len(result.worker_ids)} workers died running this job"))
                failed.append(result)
            else:
                result.status = TaskResultStatus.READY
                result.save(update_fields=["status"])
    for result in failed:
        # Listeners (a document's status) learn of it as of any failure.
        task_finished.send(sender=type(result.task.get_backend()), task_result=result.task_result)
    if count:
        logger.warning("requeued %d job(s) of dead workers (%d failed for good)", count - len(failed), len(failed))
    return count
