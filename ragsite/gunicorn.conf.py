"""gunicorn settings for `make run` and the benchmark."""

import os

timeout = 120
graceful_timeout = 20
accesslog = "-" if os.environ.get("GUNICORN_ACCESS_LOG", "1") == "1" else None


def post_worker_init(worker):
    # Load the embedding model before the first request instead of during it (~3-5 s on 2 cores).
    from qa.providers import embedder

    embedder().embed(["warm up"])


def worker_exit(server, worker):
    # Counters are written in the background; write what this worker still holds.
    from cache_policies.stats import flush_pending

    flush_pending()
