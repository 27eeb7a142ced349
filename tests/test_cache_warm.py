"""Cache warming (the cache_warm command and the admin's Warm the cache page): the next ask is a HIT,
warming is not counted as traffic, per-user answers are never warmed, and the rate limit holds.
On the real Valkey and pgvector, with the local answerer."""

import json
from io import StringIO

import pytest
import requests
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command

from cache_policies.held import forget_all
from cache_policies.models import CachePolicy, InvalidationRule
from cache_policies.services import all_purge
from cache_policies.stats_selectors import questions_top, stats_all_time
from qa.pipeline import question_answer
from qa.services import document_ingest
from qa.warming import Warmed, questions_warm
from tests.openai_fixtures import openai_wire, openai_wire_server  # noqa: F401  (fixtures)
from tests.servers import (  # noqa: F401  (fixtures)
    Gunicorn, document_put, shared_redis_url, site_database_url, site_env, wait_until, wire_kb,
)
from tests.test_redis_down import private_valkey  # noqa: F401  (fixture)

pytestmark = [pytest.mark.redis]
WITH = "What does the with statement do?"
WHILE = "How does a while loop end early?"
IMPORT = "What does import do?"


def warm(*args: str) -> str:
    out = StringIO()
    call_command("cache_warm", *args, "--rate", "100", stdout=out, stderr=StringIO())
    return out.getvalue()


def response_of(question: str) -> str:
    return question_answer(question=question).cache["response"]


def counted_requests() -> int:
    return stats_all_time().requests


def test_it_warms_the_most_asked_questions_so_the_next_ask_is_a_hit(kb):
    for question in (WITH, WITH, WITH, WHILE, WHILE, IMPORT):
        question_answer(question=question)
    all_purge()
    before = counted_requests()
    assert "Done! Warmed 2 answer(s)." in warm("--top", "2")
    assert counted_requests() == before, "warming is not traffic"
    assert response_of(WITH) == "hit" and response_of(WHILE) == "hit"
    assert response_of(IMPORT) == "miss", "only the top 2"


def test_it_warms_a_files_questions_in_lines_or_json_lines(kb, tmp_path):
    path = tmp_path / "questions.txt"
    path.write_text(f"{WITH}\n\n{json.dumps({'question': WHILE})}\n")
    assert "Done! Warmed 2 answer(s)." in warm("--file", str(path))
    assert questions_top() == [], "neither ranked nor counted"
    assert response_of(WITH) == "hit" and response_of(WHILE) == "hit"


def test_it_says_which_answers_were_cached_already(kb, tmp_path):
    question_answer(question=WITH)
    path = tmp_path / "questions.txt"
    path.write_text(f"{WITH}\n{WHILE}\n")
    assert "Done! Warmed 1 answer(s) (1 cached)." in warm("--file", str(path))


def test_it_names_the_line_of_a_file_that_is_not_a_question(kb, tmp_path):
    path = tmp_path / "questions.jsonl"
    path.write_text(f'{WITH}\n{{"q": "no question field"}}\n')
    with pytest.raises(CommandError, match=r"questions.jsonl:2: the JSON line has no \"question\" text"):
        warm("--file", str(path))


def test_it_warms_nothing_when_answers_are_cached_per_user(kb, redis_conn, tmp_path):
    CachePolicy.objects.filter(layer="response").update(scope="per_user")
    forget_all()
    path = tmp_path / "questions.txt"
    path.write_text(f"{WITH}\n")
    out = warm("--file", str(path))
    assert "Nothing warmed: Exact responses cache answers per user; warming fills only shared answers." in out
    assert not list(redis_conn.scan_iter(match="rag-test:resp:*"))


def test_it_warms_nothing_while_redis_is_down(kb, private_valkey, tmp_path):
    private_valkey.stop()
    path = tmp_path / "questions.txt"
    path.write_text(f"{WITH}\n")
    assert "Nothing warmed: Redis is unreachable, so nothing would be cached." in warm("--file", str(path))


def test_it_starts_at_most_the_rate_of_questions_in_any_second(kb):
    started = []
    questions = [WITH, WHILE, IMPORT, "What is a context manager?", "What does continue do?", "What does break do?"]
    report = questions_warm(questions=questions, per_second=4, on_each=lambda warmed: started.append(warmed.started))
    assert report.counts[Warmed.WARMED] + report.counts[Warmed.CACHED] == 6
    most_in_a_second = max(sum(1 for other in started if start <= other < start + 1) for start in started)
    assert most_in_a_second <= 4


# --- the admin page -------------------------------------------------------------

@pytest.fixture
def staff(client, transactional_db):
    client.force_login(User.objects.create_superuser("boss", "boss@example.com", "pw"))
    return client


def test_it_warms_the_selected_questions_from_the_admin(kb, staff):
    for question in (WITH, WHILE):
        question_answer(question=question)
    all_purge()
    page = staff.get("/admin/warm/").content.decode()
    assert "what does the with statement do" in page, "the most asked, as counted"
    response = staff.post("/admin/warm/", {"question": ["what does the with statement do"]}, follow=True)
    assert "Warmed 1 answer(s)." in response.content.decode()
    assert response_of(WITH) == "hit" and response_of(WHILE) == "miss"


def test_it_warms_a_few_questions_per_request_from_the_admin(kb, staff):
    response = staff.post("/admin/warm/", {"question": [f"question {n}" for n in range(6)]})
    assert response.status_code == 400
    assert "Select at most 5 questions" in response.content.decode()


def test_it_lets_only_staff_who_may_edit_policies_warm(kb, client):
    user = User.objects.create_user("clerk", password="pw", is_staff=True)
    client.force_login(user)
    assert client.post("/admin/warm/", {"question": [WITH]}).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="change_cachepolicy"))
    assert client.post("/admin/warm/", {"question": [WITH]}).status_code == 302


# --- warm after purge -------------------------------------------------------------

def with_edited() -> None:
    document_ingest(slug="with", title="The with statement", content=(
        "The with statement wraps a block with a context manager. Its __exit__ runs when the block ends, "
        "and it may suppress an exception by returning true."
    ))


@pytest.mark.parametrize("semantic", [True, False], ids=["question-from-semantic-index", "question-from-stats"])
def test_it_answers_again_what_an_edit_removed_when_the_rule_warms_after_purge(kb, redis_conn, semantic):
    InvalidationRule.objects.filter(event="document_changed", layer="response").update(warm_after_purge=True)
    CachePolicy.objects.filter(layer="semantic").update(enabled=semantic)
    forget_all()
    question_answer(question=WITH)
    question_answer(question=IMPORT)
    with_edited()  # the test process runs the queued warming job at once (django-tasks' ImmediateBackend)
    answer = question_answer(question=WITH)
    assert answer.cache["response"] == "hit" and "suppress an exception" in answer.answer, "the new text's answer"
    assert response_of(IMPORT) == "hit", "untouched by the edit"
    assert counted_requests() == 4, "the four asks above, not the warming"


def test_it_leaves_what_an_edit_removed_to_its_next_asker_by_default(kb, redis_conn):
    question_answer(question=WITH)
    with_edited()
    assert response_of(WITH) == "miss"


def test_it_switches_warm_after_purge_in_the_rule_grid(admin_client, kb):
    rules = "/admin/cache_policies/invalidationrule/"
    assert admin_client.get(rules).content.decode().count("warm after purge</label>") == 3
    grid = {f"{r.event}:{r.layer}": r.action for r in InvalidationRule.objects.filter(enabled=True)}
    page = admin_client.post(rules, {**grid, "document_changed:response:warm": "on"}, follow=True).content.decode()
    assert "A document is created or its content changes → Exact responses: warm after purge on." in page
    assert InvalidationRule.objects.get(event="document_changed", layer="response").warm_after_purge
    assert not InvalidationRule.objects.get(event="document_deleted", layer="response").warm_after_purge


# --- on a served site -------------------------------------------------------------

@pytest.mark.slow
def test_it_makes_the_next_ask_to_the_served_site_a_hit(wire_kb, openai_wire, site_database_url, redis_conn, tmp_path):
    env = site_env(redis_url=shared_redis_url(), database_url=site_database_url, wire_url=openai_wire.base_url)
    with Gunicorn(env=env, workers=1) as site:
        ask = lambda question: requests.post(site.url("/api/ask"), json={"question": question}, timeout=30)  # noqa: E731
        assert ask(WITH).headers["X-Cache"] == "MISS"
        wait_until(lambda: questions_top(), seconds=5, what="the site's count of the question")
        all_purge()
        warm("--top", "1")
        path = tmp_path / "questions.txt"
        path.write_text(f"{WHILE}\n")
        warm("--file", str(path))
        assert ask(WITH).headers["X-Cache"] == "HIT" and ask(WHILE).headers["X-Cache"] == "HIT"
    assert openai_wire.counts["chat"] == 3, "the site's first answer and the two warmed"


@pytest.mark.slow
def test_it_warms_after_a_purge_in_the_served_sites_job_worker(wire_kb, openai_wire, site_database_url, redis_conn):
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    InvalidationRule.objects.filter(event="document_changed", layer="response").update(warm_after_purge=True)
    token = Token.objects.create(user=get_user_model().objects.create_user("editor", is_staff=True)).key
    env = site_env(redis_url=shared_redis_url(), database_url=site_database_url, wire_url=openai_wire.base_url,
                   JOBS_WORKER=1)
    with Gunicorn(env=env, workers=1) as site:
        ask = lambda: requests.post(site.url("/api/ask"), json={"question": WITH}, timeout=30)  # noqa: E731
        assert ask().headers["X-Cache"] == "MISS"
        document_put(site, "with", token=token, title="The with statement",
                     content="The with statement wraps a block with a context manager whose __exit__ always runs.")
        wait_until(lambda: openai_wire.counts["chat"] == 2, seconds=60, what="the warming job's answer")
        assert ask().headers["X-Cache"] == "HIT", "warmed by the job worker before anyone asked again"
