"""An admin edit reaches another worker process within a second, without a restart."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from cache_policies.models import CachePolicy

pytestmark = [pytest.mark.redis]

WATCHER = """
import sys, time
import django
django.setup()
from cache_policies.policies import policy_for
assert policy_for("response").ttl_seconds == 86400
print("ready", flush=True)
deadline = time.time() + 15
while time.time() < deadline:
    if policy_for("response").ttl_seconds == 123:
        print(f"seen {time.time()!r}", flush=True)
        sys.exit(0)
    time.sleep(0.02)
print("never", flush=True)
"""


def _database_url() -> str:
    s = connection.settings_dict
    return f"postgresql://{s['USER']}:@/{s['NAME']}?host={s['HOST']}"


def test_it_applies_a_policy_edit_in_another_process_within_a_second(kb, settings):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "ragsite.settings_test", "DATABASE_URL": _database_url()}
    if not settings.EMBEDDED_REDIS:
        env["REDIS_URL"] = settings.REDIS_URL
    watcher = subprocess.Popen(
        [sys.executable, "-c", WATCHER], env=env, stdout=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert watcher.stdout.readline().strip() == "ready"
        policy = CachePolicy.objects.get(layer="response")
        policy.ttl_seconds = 123
        policy.save()  # the admin's save: post_save bumps the stamp after commit
        saved_at = time.time()
        line = watcher.stdout.readline().strip()
    finally:
        watcher.wait(20)
    assert line.startswith("seen"), line
    assert float(line.split()[1]) - saved_at < 1.0
