"""The site on a real Redis Cluster (3 masters, 3 replicas) while it changes under traffic:
a master is killed, and slots move between masters. Answers keep coming; none is stale."""

import threading

import pytest
import requests
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from tests.openai_fixtures import openai_wire, openai_wire_server  # noqa: F401  (fixtures)
from tests.servers import Cluster, Gunicorn, document_put, site_database_url, site_env, wait_until, wire_kb  # noqa: F401

# Not marked redis: they start a cluster of their own, whatever Redis the run is configured with.
pytestmark = [pytest.mark.slow]

QUESTION = "What does the with statement do?"
TRAFFIC = ["What does the while statement do?", "How does import bind a name?", "What ends a loop early?"]


@pytest.fixture
def cluster():
    with Cluster() as running:
        yield running


@pytest.fixture
def site(cluster, wire_kb, openai_wire, site_database_url):
    env = site_env(redis_url="", database_url=site_database_url, wire_url=openai_wire.base_url,
                   REDIS_CLUSTER_NODES=cluster.nodes_setting(), JOBS_WORKER=1)
    with Gunicorn(env=env, workers=2) as server:
        yield server


class Traffic:
    """Other questions asked in a loop on a thread of their own, every reply kept."""

    def __init__(self, site: Gunicorn):
        self.site, self.replies, self.failures = site, [], []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.done.is_set():
            for question in TRAFFIC:
                try:
                    self.replies.append(ask(self.site, question))
                except requests.RequestException as exc:
                    self.failures.append(exc)

    def __enter__(self) -> "Traffic":
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.done.set()
        self.thread.join(timeout=60)


def ask(site: Gunicorn, question: str = QUESTION) -> requests.Response:
    return requests.post(site.url("/api/ask"), json={"question": question}, timeout=30)


def response_key(cluster: Cluster) -> bytes:
    keys = cluster.keys("rag-test:resp:*")
    assert len(keys) == 1, keys
    return keys[0]


def document_edit(site: Gunicorn, content: str) -> None:
    staff = get_user_model().objects.create_user("editor", is_staff=True)
    token = Token.objects.create(user=staff).key
    assert document_put(site, "with", token=token, title="The with statement", content=content)["status"] == "ready"


def test_it_keeps_answering_when_a_master_dies_and_hits_on_the_promoted_replica(site, cluster):
    assert ask(site).headers["X-Cache"] == "MISS"
    assert ask(site).headers["X-Cache"] == "HIT"
    key = response_key(cluster)
    doomed = cluster.master_of(key)

    with Traffic(site) as traffic:
        wait_until(lambda: len(traffic.replies) >= 6, seconds=60, what="traffic before the kill")
        doomed.kill()
        replies = []

        def hit_again() -> bool:
            replies.append(ask(site))
            return replies[-1].headers.get("X-Cache") == "HIT" and cluster.master_of(key) is not doomed

        wait_until(hit_again, seconds=60, what="a hit served by the promoted replica", interval=0.2)
        served = len(traffic.replies)
        wait_until(lambda: len(traffic.replies) >= served + 6, seconds=60, what="traffic after the failover")

    assert traffic.failures == []
    assert {r.status_code for r in traffic.replies + replies} == {200}, "misses during the failover, never errors"
    assert cluster.master_of(key) in cluster.replicas


def test_it_serves_no_stale_answer_for_a_document_edited_right_after_a_failover(site, cluster):
    before = ask(site).json()
    assert ask(site).headers["X-Cache"] == "HIT"
    doomed = cluster.master_of(response_key(cluster))
    doomed.kill()
    cluster.wait_healthy()
    # Both workers back on the cluster (each has its own circuit breaker): the old answer hits again.
    wait_until(lambda: all(ask(site).headers["X-Cache"] == "HIT" for _ in range(4)), seconds=60,
               what="hits from the promoted replica", interval=0.2)

    document_edit(site, "The with statement calls __enter__, runs the block, then always calls __exit__.")

    after = ask(site)
    assert after.status_code == 200
    assert after.headers["X-Cache"] == "MISS", "the answer built from version 1 is gone"
    chunks = lambda body: [source["chunk_id"] for source in body["sources"]]  # noqa: E731
    assert chunks(after.json()) != chunks(before), "built from the edited document's new chunks"
    replies = []

    def fresh_hit() -> bool:
        replies.append(ask(site))
        return replies[-1].headers["X-Cache"] == "HIT"

    # A worker whose slot map still names the dead master pays one failure (a miss) before it re-reads it.
    wait_until(fresh_hit, seconds=30, what="the fresh answer cached again", interval=0.2)
    assert all(chunks(reply.json()) == chunks(after.json()) for reply in replies), "never the old answer"


def test_it_answers_without_errors_while_slots_move_between_masters(site, cluster):
    ask(site)
    assert ask(site).headers["X-Cache"] == "HIT"
    key = response_key(cluster)
    source = cluster.master_of(key)
    target = next(master for master in cluster.masters if master is not source)
    slot = cluster.slot_of(key)

    with Traffic(site) as traffic:
        wait_until(lambda: len(traffic.replies) >= 6, seconds=60, what="traffic before resharding")
        # Up to 200 slots around the key's, so traffic meets slots before, during and after their move.
        owned_first, owned_last, _ = cluster.slot_range_of(slot)
        moved = cluster.slots_move(first=max(owned_first, slot - 100), last=min(owned_last, slot + 100), to=target)
        served = len(traffic.replies)
        wait_until(lambda: len(traffic.replies) >= served + 6, seconds=60, what="traffic after resharding")

    assert moved >= 1
    assert cluster.master_of(key) is target
    assert traffic.failures == [] and {r.status_code for r in traffic.replies} == {200}
    assert ask(site).headers["X-Cache"] == "HIT", "the entry moved with its slot"
