"""POST /api/ask/stream over gunicorn: the SSE protocol, hits replayed in pieces, one LLM stream shared by
identical cold questions, and clients that hang up. The real openai client streams from the wire server."""

import json
import threading
import time

import pytest
import requests

from qa.pipeline import question_answer
from qa.providers.base import Streamed
from qa.providers.openai_chat import OpenAIGenerator
from qa.selectors import active_prompt_template
from qa.streaming import question_stream, replay_pieces
from tests.openai_fixtures import openai_wire, openai_wire_server  # noqa: F401  (fixtures)
from tests.servers import Gunicorn, shared_redis_url, site_database_url, site_env, wait_until, wire_kb  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.redis]

QUESTION = "What does the with statement do?"
ANSWER = "The with statement wraps a block in a context manager [1]. Its exit method runs even when the block raises [1]."


@pytest.fixture
def site(wire_kb, openai_wire, site_database_url, redis_conn):
    # Fifty streams may all land on one of the two workers: each has slots for 56 long requests (of 64 threads).
    env = site_env(redis_url=shared_redis_url(), database_url=site_database_url, wire_url=openai_wire.base_url,
                   OPENAI_TIMEOUT=30, WEB_THREADS=64, SINGLEFLIGHT_MAX_WAITERS=56)
    with Gunicorn(env=env, workers=2) as server:
        openai_wire.configure(answer=ANSWER)
        yield server


def stream(site: Gunicorn, question: str = QUESTION, **body) -> requests.Response:
    response = requests.post(site.url("/api/ask/stream"), json={"question": question, **body}, stream=True,
                             timeout=60, headers={"Accept": "text/event-stream"})
    assert response.status_code == 200, response.text[:300]
    return response


def events(response: requests.Response) -> list[tuple[str, dict]]:
    """The (event, data) pairs of an SSE response, read to its end."""
    return parse(response.iter_lines(decode_unicode=True))


def parse(lines) -> list[tuple[str, dict]]:
    found, name = [], None
    for line in lines:
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            found.append((name, json.loads(line.removeprefix("data: "))))
    return found


def text_of(found: list[tuple[str, dict]]) -> str:
    return "".join(data["text"] for name, data in found if name == "delta")


def test_it_streams_meta_then_deltas_then_done(site, openai_wire):
    response = stream(site)
    assert response.headers["Content-Type"].startswith("text/event-stream")
    found = events(response)
    names = [name for name, _ in found]
    assert names[0] == "meta" and names[-1] == "done" and set(names[1:-1]) == {"delta"}
    meta, done = found[0][1], found[-1][1]
    assert meta["stream"] == "generated" and meta["cache"]["response"] == "miss"
    assert [s["document"] for s in meta["sources"]][:1] and meta["sources"][0]["chunk_id"]
    assert text_of(found) == ANSWER
    assert len(names) - 2 == len(ANSWER.split()), "one delta per word the wire server streamed"
    assert set(done["timings_ms"]) == {"embed", "retrieve", "generate", "total"}
    assert openai_wire.counts["chat-stream"] == 1


def test_it_replays_a_hit_in_several_deltas(site, openai_wire):
    first = events(stream(site))
    second = events(stream(site))
    assert second[0] == ("meta", {**second[0][1], "stream": "replay"})
    assert second[0][1]["cache"]["response"] == "hit" and second[0][1]["sources"] == first[0][1]["sources"]
    deltas = [data["text"] for name, data in second if name == "delta"]
    assert len(deltas) >= 3 and "".join(deltas) == ANSWER
    assert second[-1][0] == "done"
    assert openai_wire.counts["chat"] == 1


def test_it_answers_the_json_api_from_a_streamed_answer_and_the_stream_from_a_json_one(site, openai_wire):
    events(stream(site))
    assert requests.post(site.url("/api/ask"), json={"question": QUESTION}, timeout=30).json()["answer"] == ANSWER
    assert openai_wire.counts["chat"] == 1


def test_it_answers_bad_input_with_a_json_400_before_any_stream(site, openai_wire):
    response = requests.post(site.url("/api/ask/stream"), json={"question": ""}, timeout=30,
                             headers={"Accept": "text/event-stream"})
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"
    assert "question" in response.json()
    assert openai_wire.counts["chat"] == 0


def test_it_shares_one_llm_stream_among_fifty_identical_cold_questions(site, openai_wire):
    openai_wire.configure(stream_chunk_ms=60)  # about 1.3 s of answer: every request arrives while it streams
    results: list[list] = []
    start = threading.Barrier(50)

    def ask():
        start.wait()
        results.append(events(stream(site)))

    threads = [threading.Thread(target=ask) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert len(results) == 50
    assert [text_of(found) for found in results] == [ANSWER] * 50, "every client got the whole answer"
    assert openai_wire.counts["chat"] == 1
    kinds = sorted(found[0][1]["stream"] for found in results)
    assert kinds.count("generated") == 1 and set(kinds) <= {"generated", "shared", "replay"}
    assert all([name for name, _ in found][-1] == "done" for found in results)


def test_it_finishes_the_answer_others_read_when_the_leaders_client_hangs_up(site, openai_wire, redis_conn):
    openai_wire.configure(stream_chunk_ms=150)
    leader = stream(site)
    lines = leader.iter_lines(decode_unicode=True)
    wait_until(lambda: next(lines).startswith("event: delta"), seconds=10, what="the leader's first delta")
    follower = {}
    reader = threading.Thread(target=lambda: follower.update(found=events(stream(site))))
    reader.start()
    leader.close()  # the leader's client goes away mid-answer
    reader.join(timeout=30)
    assert text_of(follower["found"]) == ANSWER
    assert follower["found"][0][1]["stream"] == "shared"
    replay = events(stream(site))
    assert replay[0][1]["stream"] == "replay" and text_of(replay) == ANSWER, "the whole answer was stored"
    assert openai_wire.counts["chat"] == 1


def test_it_stores_nothing_when_an_unshared_streams_client_hangs_up(site, openai_wire, redis_conn):
    openai_wire.configure(stream_chunk_ms=150)
    alone = stream(site, cache="no-cache")  # generated for this request only
    lines = alone.iter_lines(decode_unicode=True)
    wait_until(lambda: next(lines).startswith("event: delta"), seconds=10, what="the first delta")
    alone.close()
    time.sleep(len(ANSWER.split()) * 0.15 + 1)  # longer than the whole answer would have taken
    assert not list(redis_conn.scan_iter(match="rag-test:resp:*")), "no partial entry"
    assert events(stream(site))[0][1]["stream"] == "generated"


def test_it_refuses_streams_beyond_the_slots_of_a_process_before_starting_them(wire_kb, openai_wire, site_database_url,
                                                                               redis_conn):
    env = site_env(redis_url=shared_redis_url(), database_url=site_database_url, wire_url=openai_wire.base_url,
                   OPENAI_TIMEOUT=30, WEB_THREADS=4, SINGLEFLIGHT_MAX_WAITERS=2)
    with Gunicorn(env=env, workers=1) as site:
        openai_wire.configure(answer=ANSWER)
        events(stream(site, "How does a while loop end early?"))
        openai_wire.configure(stream_chunk_ms=200)
        gone = stream(site)
        lines = gone.iter_lines(decode_unicode=True)
        wait_until(lambda: next(lines).startswith("event: delta"), seconds=10, what="the first delta")
        gone.close()  # its generation goes on, and keeps its slot
        streaming = stream(site, "What does import do?")
        refused = requests.post(site.url("/api/ask/stream"), json={"question": "What is a for loop?"}, timeout=30)
        hit = events(stream(site, "How does a while loop end early?"))
        streaming.close()
    assert refused.status_code == 503 and refused.headers["Content-Type"] == "application/json"
    assert refused.json()["code"] == "answer_pending" and refused.headers["Retry-After"] == "1"
    assert hit[0][1]["stream"] == "replay", "a cached answer streams whatever the cap"


# --- in-process: the providers' pieces and the protocol with the local answerer -------

def test_it_streams_openai_pieces_that_join_into_the_whole_answer(wire_kb, openai_wire):
    openai_wire.configure(answer=ANSWER)
    streamed = Streamed(OpenAIGenerator(model="gpt-4o-mini").stream(
        question=QUESTION, passages=[], template=active_prompt_template()))
    pieces = list(streamed)
    assert len(pieces) == len(ANSWER.split()) and "".join(pieces) == ANSWER
    assert streamed.generation.text == ANSWER and streamed.generation.completion_tokens == len(ANSWER.split())
    assert openai_wire.last_bodies["chat"]["stream"] is True


def test_it_streams_the_extractive_answer_sentence_by_sentence(kb, redis_conn):
    answer = question_stream(question=QUESTION)
    found = parse(b"".join(answer).decode().splitlines())
    answer.close()
    assert found[0][0] == "meta" and found[0][1]["stream"] == "generated"
    deltas = [data["text"] for name, data in found if name == "delta"]
    assert len(deltas) >= 2 and all(d.rstrip().endswith((".", "!", "?", ":", "]")) for d in deltas)
    assert found[-1][0] == "done"
    assert question_answer(question=QUESTION).answer == "".join(deltas), "stored whole, served whole"


def test_it_cuts_a_replay_between_words_into_pieces_that_join_back():
    assert replay_pieces("one two three four five") == ["one two ", "three four ", "five"]
    assert replay_pieces("single") == ["single"]
