"""The order of the bench's phases, and what each profile measures. Returns one results dict."""

import os
import platform
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.conf import settings

from bench import profiles
from bench.http import ASK_PATH, BARE_PATH, Client, ask_body
from bench.displacement import displacement_run
from bench.ingest_memory import ingest_memory_run
from bench.guard_storage import guard_storage
from bench.latency import in_process_ask, latency_rounds, latency_summary, ledger_read_ms
from bench.memory import layer_memory
from bench.percentiles import ratio
from bench.questions import QUESTIONS, STAMPEDE, WARM_UP
from bench.redis_modes import redis_modes_run
from bench.sandbox import bench_purge, bench_settings, server_environment
from bench.semantic_scale import scale_run
from bench.stale import stale_run
from bench.server import Gunicorn
from bench.stampede import stampede_run
from bench.streaming import streaming_run
from bench.throughput import Load, loads_compare


@dataclass(frozen=True)
class BenchOptions:
    output: Path
    questions: int = len(QUESTIONS)
    rounds: int = 3  # local profile; a round is cold + exact + semantic over every question
    openai_rounds: int = 1  # each cold openai question waits 1-3 s for its answer
    repeats: int = 3
    requests: int = 1500  # per throughput cell
    concurrency: tuple[int, ...] = (1, 8, 32)
    workers: int = 2
    sizes: tuple[int, ...] = (1000, 10000, 100000)
    displacement_sizes: tuple[int, ...] = (100000, 1000000)
    scale_queries: int = 200
    naive_max: int = 100000
    naive_queries: int = 3
    stampede_threads: int = 50
    embed_ms: float = 300.0
    chat_ms: tuple[float, float] = (1000.0, 3000.0)
    http: bool = True
    openai: bool = True
    scale: bool = True
    cluster: bool = True
    ingest_memory: bool = True
    cluster_hits: int = 2000
    log: object = field(default=print, repr=False, compare=False)


QUICK = {
    "questions": 5, "rounds": 1, "repeats": 2, "requests": 100, "concurrency": (1, 8), "sizes": (200, 1000), "displacement_sizes": (1000,),
    "scale_queries": 20, "naive_max": 1000, "naive_queries": 2, "stampede_threads": 10, "chat_ms": (200.0, 400.0),
    "embed_ms": 100.0, "cluster_hits": 200,
}


def bench_run(options: BenchOptions) -> dict:
    started = time.time()
    results = {"started_at": started, "options": _options_dict(options), "environment": environment(), "profiles": {}}
    _knowledge_base_ensure(options)
    with bench_settings():
        bench_purge()
        try:
            in_process_ask(WARM_UP)  # loads MiniLM and opens the connections
            results["guard_storage"] = _phase(options, guard_storage)
            results["profiles"][profiles.LOCAL] = _phase(options, lambda: profile_run(profiles.LOCAL, options))
            if options.openai:
                with profiles.JitteredWireServer(embeddings_ms=options.embed_ms, chat_ms=options.chat_ms) as wire:
                    results["profiles"][profiles.OPENAI] = _phase(options, lambda: profile_run(profiles.OPENAI, options, wire=wire))
            if options.scale:
                results["semantic_scale"] = _phase(options, lambda: scale_run(
                    sizes=list(options.sizes), queries=options.scale_queries, naive_max=options.naive_max,
                    naive_queries=options.naive_queries, log=options.log,
                ))
                results["displacement"] = _phase(options, lambda: displacement_run(
                    sizes=list(options.displacement_sizes), log=options.log,
                ))
        finally:
            bench_purge()
    if options.ingest_memory:
        results["ingest_memory"] = _phase(options, lambda: ingest_memory_run(log=options.log))
    if options.cluster:
        results["redis_modes"] = _phase(options, lambda: redis_modes_run(
            questions=options.questions, hits=options.cluster_hits, log=options.log,
        ))
    results["environment"]["load_average_end"] = os.getloadavg()
    results["seconds"] = round(time.time() - started, 1)
    return results


def _knowledge_base_ensure(options: BenchOptions) -> None:
    """The sample knowledge base, as `make run` loads it: on an empty one every question misses (an answer with
    no source is not cached), and the hit-path rows would time misses under the name of hits."""
    from django.core.management import call_command

    from qa.models import Document

    if not Document.objects.exists():
        options.log("knowledge base empty: loading the sample documents (manage.py ingest --sample)")
        call_command("ingest", "--sample", verbosity=0)


def _phase(options: BenchOptions, measure) -> dict:
    """measure(), or its error: a phase that breaks must not throw away the minutes the others took."""
    try:
        return measure()
    except Exception as exc:
        options.log(f"phase failed: {exc!r}")
        return {"error": f"{type(exc).__name__}: {exc}"}


def profile_run(profile: str, options: BenchOptions, *, wire=None) -> dict:
    questions = QUESTIONS[: options.questions]
    rounds = options.rounds if profile == profiles.LOCAL else options.openai_rounds
    base_url = wire.base_url if wire else None
    measured = {}
    with profiles.profile_in_process(profile=profile, base_url=base_url):
        options.log(f"{profile}: in-process latency, {rounds} round(s) of {len(questions)} questions")
        in_process_ask(WARM_UP)
        observed = latency_rounds(ask=in_process_ask, questions=questions, rounds=rounds, repeats=options.repeats, purge=bench_purge)
        measured["in_process"] = {**latency_summary(observed), "samples": [o.as_dict() for o in observed]}
        measured["memory"] = layer_memory()
        measured["ledger_read"] = ledger_read_ms()
        if profile == profiles.OPENAI:
            options.log(f"{profile}: stale hits beside fresh hits, in-process")
            bench_purge()
            measured["stale"] = stale_run(questions=[q.question for q in questions])
        options.log(f"{profile}: stampede of {options.stampede_threads} in-process")
        measured["stampede_in_process"] = _stampede_in_process(options, wire)
    if options.http:
        env = server_environment(**profiles.server_overrides(profile=profile, base_url=base_url))
        with Gunicorn(workers=options.workers, env=env, log_path=options.output / f"gunicorn-{profile}.log") as server:
            measured.update(_over_http(profile, options, Client(host=server.host, port=server.port), questions, rounds, wire))
    return measured


def _stampede_in_process(options: BenchOptions, wire) -> dict:
    bench_purge()
    if wire is not None:
        return stampede_run(ask=in_process_ask, question=STAMPEDE, threads=options.stampede_threads,
                            llm_calls=lambda: wire.counts["chat"])
    with profiles.generator_counted() as counting:
        return stampede_run(ask=in_process_ask, question=STAMPEDE, threads=options.stampede_threads,
                            llm_calls=lambda: counting.calls)


def _over_http(profile: str, options: BenchOptions, client: Client, questions, rounds: int, wire) -> dict:
    _server_warm_up(client, workers=options.workers)
    options.log(f"{profile}: HTTP latency through gunicorn ({options.workers} workers)")
    observed = latency_rounds(ask=client.ask, questions=questions, rounds=rounds, repeats=options.repeats, purge=bench_purge)
    measured = {"http": {**latency_summary(observed), "samples": [o.as_dict() for o in observed]}}
    if profile == profiles.LOCAL:
        options.log(f"{profile}: throughput of exact hits vs bare DRF at concurrency {options.concurrency}")
        measured["throughput"] = throughput_compare(client, questions, options)
    if wire is not None:
        options.log(f"{profile}: stampede of {options.stampede_threads} over HTTP")
        bench_purge()
        measured["stampede_http"] = stampede_run(ask=client.ask, question=STAMPEDE, threads=options.stampede_threads,
                                                 llm_calls=lambda: wire.counts["chat"])
        options.log(f"{profile}: streamed answers over HTTP (time to first byte, stampede of {options.stampede_threads})")
        streamed = streaming_run(host=client.host, port=client.port, questions=[q.question for q in questions],
                                 stampede_question=STAMPEDE, threads=options.stampede_threads,
                                 llm_calls=lambda: wire.counts["chat"], purge=bench_purge)
        measured["streamed"] = streamed["ttfb"]
        measured["stampede_http_streamed"] = streamed["stampede"]
    return measured


def _server_warm_up(client: Client, *, workers: int) -> None:
    """Two rounds of one no-store question per worker at once, so every worker has loaded MiniLM."""
    for _ in range(2):
        threads = [threading.Thread(target=client.ask, args=(WARM_UP,), kwargs={"cache": "no-store"}) for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def throughput_compare(client: Client, questions, options: BenchOptions) -> list[dict]:
    """Exact hits (every question already cached by the latency rounds) vs the bare endpoint, level by level."""
    asks = [ask_body(q.question) for q in questions]
    cells = []
    for concurrency in options.concurrency:
        measured = loads_compare(
            client=client, loads={"ask": Load(ASK_PATH, asks), "bare": Load(BARE_PATH, [b"{}"])},
            concurrency=concurrency, requests=options.requests,
        )
        ask, bare = measured["ask"], measured["bare"]
        # Only a run of nothing but exact hits measures the hit path; anything else is reported, not compared.
        hits_only = ask["x_cache"].get("HIT", 0) == ask["requests"]
        if not hits_only:
            options.log(f"concurrency {concurrency}: not every request was an exact hit ({ask['x_cache']}): no ratio")
        cells.append({
            "concurrency": concurrency, "ask": ask, "bare": bare,
            "p50_over_bare": ratio(ask["latency"]["p50"], bare["latency"]["p50"]) if hits_only else None,
            "rps_share_of_bare": ratio(ask["rps"], bare["rps"]) if hits_only else None,
        })
    return cells


def environment() -> dict:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=settings.BASE_DIR).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
        "commit": commit, "load_average_start": os.getloadavg(),
    }


def _options_dict(options: BenchOptions) -> dict:
    values = asdict(options)
    values.pop("log")
    values["output"] = str(options.output)
    return values
