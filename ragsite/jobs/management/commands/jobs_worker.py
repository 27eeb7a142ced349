"""`manage.py jobs_worker`: django-tasks-db's db_worker, plus a lease, orphan requeueing, memory given back and a parent watch.

`make run` starts one from gunicorn's master (see ragsite/jobs/process.py); it takes db_worker's options.
"""

import ctypes
import ctypes.util
import gc
import logging
import os
import signal
import threading
import time

from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django_tasks_db.management.commands import db_worker

from ragsite.jobs.lease import Lease, orphans_requeue, worker_id_new

logger = logging.getLogger(__name__)

PRUNE_SECONDS = 3600


def _malloc_trim() -> None:
    # glibc keeps freed arenas mapped; a large embedding batch would otherwise stay in the RSS for good.
    name = ctypes.util.find_library("c")
    if name:
        try:
            ctypes.CDLL(name).malloc_trim(0)
        except (OSError, AttributeError):  # not glibc
            pass


class Worker(db_worker.Worker):
    def __init__(self, *, parent_pid: int | None, **kwargs):
        super().__init__(**kwargs)
        self.parent_pid = parent_pid
        self.lease = Lease(self.worker_id)

    def run(self) -> None:
        self.lease.take()
        orphans_requeue()
        threading.Thread(target=self._watch, name="jobs-watch", daemon=True).start()
        try:
            super().run()
        finally:
            self.lease.release()

    def run_task(self, db_task_result) -> None:
        try:
            super().run_task(db_task_result)
        finally:
            gc.collect()
            _malloc_trim()

    def _watch(self) -> None:
        """Every second: stop when the parent is gone. Every JOBS_REAP_SECONDS: renew the lease, requeue dead
        peers' jobs. Every hour: delete results finished more than JOBS_KEEP_DAYS ago (an ingest's keeps its text)."""
        reaped = pruned = time.monotonic()
        while self.running:
            time.sleep(1)
            if self.parent_pid and os.getppid() != self.parent_pid:
                logger.warning("parent %s is gone: stopping", self.parent_pid)
                os.kill(os.getpid(), signal.SIGTERM)  # db_worker's graceful stop: the job in hand finishes
                return
            if time.monotonic() - reaped >= settings.JOBS_REAP_SECONDS:
                reaped = time.monotonic()
                self._chore(self.lease.renew)
                self._chore(orphans_requeue)
            if time.monotonic() - pruned >= PRUNE_SECONDS:
                pruned = time.monotonic()
                self._chore(_results_prune)

    def _chore(self, chore) -> None:
        try:
            chore()
        except Exception:  # the database away for a moment: the next round tries again
            logger.exception("%s failed", chore.__name__)
        finally:
            connections.close_all()  # this thread's own connection


def _results_prune() -> None:
    call_command("prune_db_task_results", "--queue-name", "*", "--min-age-days", str(settings.JOBS_KEEP_DAYS), verbosity=0)


class Command(db_worker.Command):
    help = "Run the background job worker (django-tasks-db's db_worker with a lease on PostgreSQL)."

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.set_defaults(worker_id=None)
        parser.add_argument("--parent-pid", type=int, help="Stop when this process is no longer the parent.")

    def handle(self, *, verbosity: int, queue_name: str, exclude_queues: str, parent_pid: int | None,
               worker_id: str | None, reload: bool, **options) -> None:
        # db_worker's own handle, without --reload (a reloaded child would take a second lease) and with our Worker.
        self.configure_logging(verbosity)
        worker = Worker(
            parent_pid=parent_pid, worker_id=worker_id or worker_id_new(), queue_names=queue_name.split(","),
            excluded_queue_names=exclude_queues.split(",") if exclude_queues else [], interval=options["interval"],
            batch=options["batch"], backend_name=options["backend_name"], startup_delay=options["startup_delay"],
            max_tasks=options["max_tasks"],
        )
        worker.configure_signals()
        worker.run()
