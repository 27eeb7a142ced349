"""Settings for the test suite: a separate database, Redis db and key prefix."""

import os

os.environ["RAGSITE_TESTING"] = "1"

from ragsite.settings import *  # noqa: E402,F401,F403

# The test process runs jobs at once, in the request (django-tasks' own ImmediateBackend), for the tests that
# merely need a document; the servers tests start (tests/servers.py, ragsite.settings) queue them in PostgreSQL
# for their real job worker, which tests/test_ingest_jobs.py exercises.
TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
