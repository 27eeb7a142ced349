"""Document ingest as a background job: the API answers 202 at once, a real job worker (started by gunicorn's
master, as under `make run`) chunks and embeds, questions keep being answered meanwhile, and a job whose
worker is killed mid-way is finished by the next one."""

import os
import signal
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import requests
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from qa import providers
from qa.models import Chunk, Document
from qa.pipeline import question_answer
from ragsite.errors import ProviderError
from tests.openai_fixtures import openai_wire, openai_wire_server  # noqa: F401  (fixtures)
from tests.servers import (  # noqa: F401  (fixtures)
    Gunicorn, document_wait, shared_redis_url, site_database_url, site_env, wait_until, wire_kb,
)

QUESTION = "What does the with statement do?"
MAX_CHARS = 40_000  # the server's DOCUMENT_MAX_CHARS here: a document close to it is ~70 chunks, two embed batches


@pytest.fixture
def site(wire_kb, openai_wire, site_database_url, redis_conn):
    env = site_env(redis_url=shared_redis_url(), database_url=site_database_url, wire_url=openai_wire.base_url,
                   DOCUMENT_MAX_CHARS=MAX_CHARS, OPENAI_TIMEOUT=10, JOBS_WORKER=1)
    with Gunicorn(env=env, workers=1) as server:
        yield server


@pytest.fixture
def token(transactional_db) -> str:
    staff = get_user_model().objects.create_user("editor", is_staff=True)
    return Token.objects.create(user=staff).key


def ask(site: Gunicorn, question: str = QUESTION) -> requests.Response:
    response = requests.post(site.url("/api/ask"), json={"question": question}, timeout=30)
    assert response.status_code == 200, response.text[:300]
    return response


def large_text(chars: int) -> str:
    """Distinct sentences (overlapping chunks share only their neighbours') up to just under chars."""
    sentences, length, n = [], 0, 0
    while length < chars - 200:
        sentence = f"Lighthouse {n} stands on rock {n * 7} and its lamp turns every {n % 13 + 2} seconds."
        sentences.append(sentence)
        length += len(sentence) + 1
        n += 1
    return " ".join(sentences)


def running_job_worker_pid() -> int:
    from django_tasks_db.models import DBTaskResult

    from ragsite.jobs.lease import worker_pid

    job = DBTaskResult.objects.running().first()
    return worker_pid(job.worker_ids[-1]) if job else 0


def rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))


@pytest.mark.slow
def test_it_keeps_answering_while_a_large_document_is_ingested_in_the_background(site, token, openai_wire, record_property):
    openai_wire.configure(embeddings_latency_ms=300)  # each embedding call; a question embeds once, the job 4 times
    content = large_text(MAX_CHARS)
    created = requests.post(site.url("/api/documents"), headers={"Authorization": f"Token {token}"}, timeout=30,
                            json={"slug": "lighthouses", "title": "Lighthouses", "content": content})

    assert created.status_code == 202 and created.json()["status"] == "pending"
    assert created.headers["Location"] == created.json()["poll"]
    answered_while_pending, n, worker = 0, 0, 0
    status = "pending"
    while status == "pending" and n < 200:
        worker = worker or running_job_worker_pid()
        ask(site, f"Which rock does lighthouse {n} stand on?")
        n += 1
        now = requests.get(created.json()["poll"], timeout=10).json()["status"]
        answered_while_pending += now == "pending"  # pending before the question and after its answer
        status = now
    done = document_wait(created.json()["poll"], seconds=120)

    assert answered_while_pending >= 1
    assert done["status"] == "ready" and done["version"] == 1 and done["chunk_count"] > 60
    assert len(content) <= MAX_CHARS and done["content"] == content
    record_property("answered_while_pending", answered_while_pending)
    if worker:
        record_property("worker_rss_kb_after", rss_kb(worker))


@pytest.mark.slow
def test_it_finishes_a_job_whose_worker_was_killed_mid_way(site, token, openai_wire):
    from django_tasks_db.models import DBTaskResult

    before = ask(site).json()
    assert ask(site).headers["X-Cache"] == "HIT"
    openai_wire.configure(embeddings_latency_ms=1500)  # the job is still embedding when its worker is killed
    content = "The with statement calls __enter__, runs its block, then calls __exit__ even when the block raises."
    edit = requests.put(site.url("/api/documents/with"), headers={"Authorization": f"Token {token}"}, timeout=30,
                        json={"title": "The with statement", "content": content})
    assert edit.status_code == 202 and edit.json()["status"] == "pending"
    assert ask(site).headers["X-Cache"] == "HIT", "while pending, the old chunks and their cached answer serve"

    doomed = wait_until(running_job_worker_pid, seconds=60, what="a worker to take the job")
    os.kill(doomed, signal.SIGKILL)
    openai_wire.configure(embeddings_latency_ms=0)
    done = document_wait(edit.json()["poll"], seconds=120)

    assert done["status"] == "ready" and done["version"] == 2 and done["content"] == content
    # The document is ready before the job's row says it succeeded.
    job = wait_until(lambda: DBTaskResult.objects.filter(status="SUCCESSFUL").first(), seconds=30, what="the job's result")
    assert DBTaskResult.objects.count() == 1 and len(job.worker_ids) == 2, "requeued once, run by the restarted worker"
    after = ask(site)
    assert after.headers["X-Cache"] == "MISS", "ready means the answer built from the old chunks is gone"
    assert {s["chunk_id"] for s in after.json()["sources"]} != {s["chunk_id"] for s in before["sources"]}


@dataclass(frozen=True)
class FailingEmbedder:
    provider: str = "failing"
    model: str = "failing"
    dimensions: int = 384

    def embed(self, texts: list[str]) -> np.ndarray:
        raise ProviderError("embeddings are down", provider=self.provider)


def test_it_marks_a_failed_ingest_and_keeps_the_old_chunks_and_cached_answers(kb, redis_conn):
    staff = APIClient()
    staff.force_login(get_user_model().objects.create_user("editor", is_staff=True))
    question_answer(question=QUESTION)
    chunks = list(Chunk.objects.filter(document__slug="with").values_list("id", flat=True))

    # The test process runs the job at once (ImmediateBackend), with the embedder overridden for it.
    with providers.override(embedder=FailingEmbedder()):
        response = staff.put("/api/documents/with", {"title": "With", "content": "Something new."}, format="json")

    assert response.status_code == 202
    document = Document.objects.get(slug="with")
    assert document.status == "failed" and "embeddings are down" in document.status_error
    assert document.content.startswith("The with statement wraps") and document.version == 1
    assert list(document.chunks.values_list("id", flat=True)) == chunks
    assert question_answer(question=QUESTION).cache["response"] == "hit"
