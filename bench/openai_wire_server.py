"""A local server that speaks the OpenAI wire format, so the real `openai` client can be tested over HTTP.

    with OpenAIWireServer(chat_latency_ms=50) as server:
        client = openai.OpenAI(api_key="test", base_url=server.base_url)

POST /v1/embeddings gives deterministic vectors: each word is hashed into one of the requested
`dimensions` buckets, so texts sharing words get similar vectors. POST /v1/chat/completions gives a
short answer citing [1]; with `"stream": true` it streams the answer word by word in OpenAI's SSE chunk
format (`data: {chunk}` ... `data: [DONE]`), `stream_chunk_ms` apart. `configure()` makes it slow, failing, malformed or hanging; `counts` says
how many requests each endpoint got (streamed chats also under "chat-stream") and `last_bodies` what it was last sent. Also used by the benchmark, so it imports nothing from Django.
"""

import base64
import hashlib
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

ENDPOINTS = {"/v1/embeddings": "embeddings", "/v1/chat/completions": "chat"}
DEFAULT_DIMENSIONS = 1536
_WORD = re.compile(r"[a-z0-9_]+")


@dataclass(frozen=True)
class WireBehaviour:
    embeddings_latency_ms: float = 0
    chat_latency_ms: float = 0
    fail_times: int = 0  # the next N requests (either endpoint) get fail_status; then it succeeds
    fail_status: int = 500
    fail_endpoint: str | None = None  # "chat" or "embeddings": only that endpoint's requests count toward fail_times
    retry_after_ms: int | None = 1  # sent with failures; the client waits this long before retrying
    malformed: bool = False  # 200 with a body that is not JSON
    wrong_count: bool = False  # one embedding fewer than the inputs
    dimensions: int | None = None  # answer with vectors this wide, whatever the request asked for
    hang_seconds: float = 0  # wait this long before answering (set it above the client's timeout)
    answer: str = "The context covers this [1]."
    stream_chunk_ms: float = 0  # the pause before each streamed chunk


def wire_vector(text: str, dimensions: int) -> np.ndarray:
    """A unit vector with one bucket per distinct word hash; the same text always gives the same vector."""
    vector = np.zeros(dimensions, dtype=np.float32)
    for word in _WORD.findall(text.lower()) or [""]:
        vector[int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "big") % dimensions] += 1.0
    return vector / np.linalg.norm(vector)


def _word_count(value) -> int:
    return len(json.dumps(value).split())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real API; every reply sets Content-Length
    server: "_Server"

    def log_message(self, format, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        endpoint = ENDPOINTS.get(self.path)
        if endpoint is None:
            return self._reply(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
        behaviour = self.server.wire.request_started(endpoint, body)
        if behaviour.hang_seconds:
            self.server.wire.stopping.wait(behaviour.hang_seconds)
        time.sleep((behaviour.embeddings_latency_ms if endpoint == "embeddings" else behaviour.chat_latency_ms) / 1000)
        if self.server.wire.should_fail(endpoint):
            headers = {"retry-after-ms": str(behaviour.retry_after_ms)} if behaviour.retry_after_ms else {}
            error = {"error": {"message": "wire server told to fail", "type": "server_error", "code": None}}
            return self._reply(behaviour.fail_status, error, headers)
        if behaviour.malformed:
            return self._reply_raw(200, b'{"object": "list", "data": [{"embedd')
        if endpoint == "embeddings":
            return self._reply(200, _embeddings(body, behaviour))
        if body.get("stream"):
            return self._reply_stream(_chat_chunks(body, behaviour), delay=behaviour.stream_chunk_ms / 1000)
        return self._reply(200, _chat(body, answer=behaviour.answer))

    def _reply(self, status: int, payload: dict, headers: dict | None = None):
        self._reply_raw(status, json.dumps(payload).encode(), headers)

    def _reply_raw(self, status: int, raw: bytes, headers: dict | None = None):
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout) while we hung: expected


    def _reply_stream(self, chunks: list[dict], *, delay: float):
        """Server-Sent Events in HTTP/1.1 chunked encoding, so the connection stays alive afterwards."""
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for event in [*(f"data: {json.dumps(c)}\n\n" for c in chunks), "data: [DONE]\n\n"]:
                if self.server.wire.stopping.wait(delay):
                    break
                raw = event.encode()
                self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client hung up mid-stream


def _embeddings(body: dict, behaviour: WireBehaviour) -> dict:
    inputs = body.get("input", [])
    inputs = [inputs] if isinstance(inputs, str) else list(inputs)
    dimensions = behaviour.dimensions or int(body.get("dimensions") or DEFAULT_DIMENSIONS)
    vectors = [wire_vector(text, dimensions) for text in inputs]
    if behaviour.wrong_count:
        vectors = vectors[:-1]
    as_base64 = body.get("encoding_format") == "base64"
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": base64.b64encode(v.tobytes()).decode() if as_base64 else v.tolist(),
        }
        for i, v in enumerate(vectors)
    ]
    tokens = sum(len(str(text).split()) for text in inputs)
    return {"object": "list", "data": data, "model": body.get("model"), "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def _chat(body: dict, *, answer: str) -> dict:
    prompt_tokens, completion_tokens = _word_count(body.get("messages", [])), len(answer.split())
    return {
        "id": f"chatcmpl-wire-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _chat_chunks(body: dict, behaviour: WireBehaviour) -> list[dict]:
    """chat.completion.chunk objects: the role, one per word of the answer, the finish, and usage if asked for."""
    words = re.findall(r"\S+\s*", behaviour.answer)
    head = {"id": f"chatcmpl-wire-{time.monotonic_ns()}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": body.get("model")}

    def chunk(delta: dict, finish: str | None = None) -> dict:
        return {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    chunks = [chunk({"role": "assistant", "content": ""}), *(chunk({"content": w}) for w in words), chunk({}, "stop")]
    if (body.get("stream_options") or {}).get("include_usage"):
        chunks.append({**head, "choices": [], "usage": _chat(body, answer=behaviour.answer)["usage"]})
    return chunks


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    wire: "OpenAIWireServer"

    def handle_error(self, request, client_address):
        pass  # a client that hangs up mid-reply is part of the timeout scenarios


class OpenAIWireServer:
    """The server on 127.0.0.1 at a free port, served from a background thread."""

    def __init__(self, **behaviour):
        self.behaviour = WireBehaviour(**behaviour)
        self.counts: Counter = Counter()
        self.last_bodies: dict[str, dict] = {}  # the latest request body per endpoint
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._failures_left = self.behaviour.fail_times
        self._httpd: _Server | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def configure(self, **changes) -> None:
        """Change the behaviour for the requests that follow; fail_times starts counting again."""
        with self._lock:
            self.behaviour = replace(self.behaviour, **changes)
            self._failures_left = self.behaviour.fail_times

    def reset(self) -> None:
        """Default behaviour and zero counts, e.g. between tests sharing one server."""
        with self._lock:
            self.behaviour = WireBehaviour()
            self._failures_left = 0
            self.counts.clear()
            self.last_bodies.clear()

    def request_started(self, endpoint: str, body: dict) -> WireBehaviour:
        with self._lock:
            self.counts[endpoint] += 1
            if body.get("stream"):
                self.counts[f"{endpoint}-stream"] += 1  # also counted as a call of its endpoint
            self.last_bodies[endpoint] = body
            return self.behaviour

    def should_fail(self, endpoint: str) -> bool:
        with self._lock:
            if self._failures_left <= 0 or self.behaviour.fail_endpoint not in (None, endpoint):
                return False
            self._failures_left -= 1
            return True

    def start(self) -> "OpenAIWireServer":
        self.stopping.clear()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.wire = self
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopping.set()  # releases handlers that are hanging
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "OpenAIWireServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
