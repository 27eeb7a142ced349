"""gunicorn settings for `make run`, the benchmark and the tests' servers.

Serving model: gthread workers. A request waiting for an identical question's answer
(single-flight) holds a thread, not a whole process, and each process lets at most
SINGLEFLIGHT_MAX_WAITERS of them wait (3/4 of WEB_THREADS by default), so hits always find a
free thread. A streamed answer (POST /api/ask/stream) holds one thread for its length and takes one
of the same slots, so streams and waiters together never take the threads hits need.
"""

import os

from ragsite import settings as site

worker_class = "gthread"
threads = site.WEB_THREADS
timeout = 120
graceful_timeout = 20
accesslog = "-" if os.environ.get("GUNICORN_ACCESS_LOG", "1") == "1" else None

# gunicorn's default control socket is one per user ($XDG_RUNTIME_DIR or ~/.gunicorn): a second
# instance on the machine would take it over from the first. Each checkout gets its own.
_control = os.environ.get("GUNICORN_CONTROL_SOCKET", "").strip()
control_socket_disable = _control == "off"
control_socket = _control if _control not in ("", "off") else str(site.VAR_DIR / "gunicorn.ctl")


# The background job worker (document ingest): a child of the master, restarted if it dies (ragsite/jobs/process.py).
_jobs = None


def when_ready(server):
    global _jobs
    if site.JOBS_WORKER:
        from ragsite.jobs.process import Supervisor

        _jobs = Supervisor().start()


def on_exit(server):
    if _jobs is not None:
        _jobs.stop()


def post_worker_init(worker):
    # Load the embedding model before the first request instead of during it (~3-5 s on 2 cores), and MiniLM
    # when the embedder is another model: every exact miss decides its semantic lookup with it (qa/local_space.py).
    from qa.providers import embedder, local_embedder

    embedder().embed(["warm up"])
    if local_embedder() is not embedder():
        local_embedder().embed(["warm up"])
    # Hold the change ledger, the policies and the template's version before the first request too, so this worker
    # serves cached answers even if PostgreSQL goes down before anyone asked it anything.
    from django.db import DatabaseError, connections

    from cache_policies.freshness import ledger
    from cache_policies.policies import all_policies
    from qa.pipeline import active_template

    try:
        ledger.sync()
        all_policies()
        active_template.get()
    except DatabaseError:
        pass  # started during an outage: it learns them when the database is back
    connections.close_all()  # requests run in the worker's threads; this one must not keep a connection


def worker_exit(server, worker):
    # Counters are written in the background; write what this worker still holds.
    from cache_policies.stats import flush_pending

    flush_pending()
