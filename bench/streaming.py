"""Streamed answers over HTTP (POST /api/ask/stream): time to the first byte and to the first answer text,
cold vs hit, and how many LLM calls a stampede of identical cold streamed questions makes."""

import time
from http.client import HTTPConnection

from bench.http import ask_body
from bench.percentiles import summary
from bench.stampede import stampede_run

STREAM_PATH = "/api/ask/stream"


def stream_ask(*, host: str, port: int, question: str, timeout: float = 60.0) -> dict:
    """One streamed answer read to its end: its stream kind (replay, generated, shared), whether it was done,
    and the ms to the response's first byte and to its first delta event."""
    conn = HTTPConnection(host, port, timeout=timeout)
    start = time.perf_counter()
    found = {"status": None, "kind": None, "done": False, "first_byte_ms": None, "first_delta_ms": None}
    try:
        conn.request("POST", STREAM_PATH, ask_body(question), {"Content-Type": "application/json"})
        response = conn.getresponse()
        found["status"] = response.status
        for line in response:
            found["first_byte_ms"] = found["first_byte_ms"] or (time.perf_counter() - start) * 1000
            _line_read(found, line.decode().strip(), start)
    finally:
        conn.close()
    return found


def _line_read(found: dict, line: str, start: float) -> None:
    if line == "event: delta" and found["first_delta_ms"] is None:
        found["first_delta_ms"] = (time.perf_counter() - start) * 1000
    elif line == "event: done":
        found["done"] = True
    elif line.startswith("data: ") and found["kind"] is None and '"stream":"' in line:
        found["kind"] = line.split('"stream":"', 1)[1].split('"', 1)[0]


def streaming_run(*, host: str, port: int, questions: list[str], stampede_question: str, threads: int,
                  llm_calls, purge) -> dict:
    """Each question streamed cold, then again as a hit; then the streamed stampede."""
    purge()
    cold = [stream_ask(host=host, port=port, question=q) for q in questions]
    hit = [stream_ask(host=host, port=port, question=q) for q in questions]
    purge()

    def ask(question: str) -> tuple[str, dict]:
        answer = stream_ask(host=host, port=port, question=question)
        if answer["status"] != 200:
            return f"HTTP {answer['status']}", answer
        return (answer["kind"] if answer["done"] else "incomplete"), answer

    return {
        "ttfb": {name: {"first_byte_ms": summary([a["first_byte_ms"] for a in answers if a["first_byte_ms"]]),
                        "first_delta_ms": summary([a["first_delta_ms"] for a in answers if a["first_delta_ms"]]),
                        "kinds": sorted({a["kind"] for a in answers if a["kind"]})}
                 for name, answers in (("cold", cold), ("hit", hit))},
        "stampede": stampede_run(ask=ask, question=stampede_question, threads=threads, llm_calls=llm_calls),
    }
