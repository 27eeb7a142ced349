"""bench-results/: report.md, results.json and the PNG plots, plus the short table for the terminal."""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bench.targets import Target, targets_evaluate  # noqa: E402

PHASES = ("cold", "exact", "semantic")
STAGE_COLUMNS = ("embed", "retrieve", "generate", "total", "wall")

METHOD = """\
## How this was measured

- **Isolation.** Every Redis key the bench writes (cache layers, question ranking, DRF throttle counters, naive-scan
  vectors) starts with `rag-bench:`, and its semantic index rows and stats rows carry it in their namespace; the bench
  deletes exactly those before, between and after its phases. It never calls `all_purge()`/`layer_purge()`,
  which would bump the shared namespace versions and empty everyone's semantic index.
- **Cold** = the first ask of a question after that purge: a real miss that looks up every layer, takes
  the single-flight lock, embeds, retrieves, generates and writes every layer. **Exact hit** = the same
  question again. **Semantic hit** = its paraphrase, served from the semantic layer (paraphrases the guard
  turned away are counted under "outcomes" and left out of the semantic percentiles).
- **Semantic hits** also run the guard's evidence check, which embeds the sentences of the chunks involved
  the first time a process sees them (an in-process LRU). The in-process openai rounds run after the local
  ones in the same process and find it warm; every gunicorn starts cold, so its semantic hits pay for it.
- **wall** is what the caller waited: the `question_answer()` call in-process, the whole HTTP exchange
  (connect, request, response) over HTTP. The stages are the pipeline's own timings (Server-Timing over HTTP).
- **HTTP** goes to a real gunicorn (sync workers) started by the bench with the site's settings plus a
  bench URLconf that adds `/api/bench/bare` (a DRF APIView returning `{{"ok": true}}`), the baseline.
  Throughput: closed loop, the two endpoints in five alternating slices so both see the same background load.
  The bench gunicorn raises the anonymous rate so its one client address is not refused; the throttle
  still counts every request in Redis (one INCR).
- **openai profile.** The LLM is the real `openai` client against a local OpenAI-wire server answering
  each chat in a uniformly drawn {chat_low:.0f}–{chat_high:.0f} ms. Embeddings stay MiniLM's, because the
  sample KB and the semantic index are MiniLM vectors (the wire server's hashed vectors would retrieve
  nonsense and never match a paraphrase); each embedding is paid for with a real wire-format embeddings
  request of {embed_ms:.0f} ms through the openai client before MiniLM computes it, so the embed stage is the
  OpenAI latency plus MiniLM's few ms, and retrieval and the semantic guard behave as in production.
  As in production with an API embedder, the semantic lookup runs first, on the question's MiniLM vector
  computed in-process (`qa/local_space.py`): a semantic hit makes no embeddings request, and a miss makes one.
- **Semantic lookup at scale.** `candidates_nearest()` unchanged, against N synthetic rows (random unit
  vectors) in a TEMPORARY table that shadows `cache_policies_cachedquestion` for the bench's connection only,
  with the real table's indexes (HNSW m=16, ef_construction=64) built after loading and its temp_buffers
  set to shared_buffers. "near" probes are stored vectors plus noise (cosine ≈ 0.93: a candidate is found),
  "far" probes are random (none is). The naive baseline stores each vector as raw float32 under its own
  Redis key and, per lookup, SCANs the keys, GETs each and computes the cosine in numpy.
- **Displacement check.** `invalidation._displaced_entries()` unchanged, against N synthetic cached questions
  (k-th retrieved score 0.5) in the same shadow table, with a few planted at cosine ≈ 0.6 from the changed
  chunks so each probe has questions to find. "edit" adds 2 new chunks (only new text is compared); "new
  document" adds 81. Timed as the summed plan + execute of its statements (EXPLAIN ANALYZE).
- **Machine.** {cpus} CPUs shared with other engineers' test runs: load average {load_start} at the
  start, {load_end} at the end. Absolute numbers move with that load; ratios measured side by side move less.
"""


def report_write(results: dict, output: Path) -> dict[str, Path]:
    output.mkdir(parents=True, exist_ok=True)
    targets = targets_evaluate(results)
    paths = {"json": output / "results.json", "markdown": output / "report.md"}
    paths["json"].write_text(json.dumps({**results, "targets": [t.__dict__ for t in targets]}, indent=2, default=str))
    plots = plots_write(results, output)
    paths["markdown"].write_text(markdown(results, targets, plots))
    return {**paths, **plots}


def short_table(results: dict) -> str:
    return _table(["target", "measured", "goal", ""], [_target_row(t) for t in targets_evaluate(results)])


def _target_row(target: Target) -> list[str]:
    verdict = {True: "met", False: "MISSED", None: "not run"}[target.met]
    return [target.name, _fmt(target.value, target.unit), target.goal, verdict]


def _fmt(value, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"
    else:
        text = f"{value:,}"
    return f"{text} {unit}".strip()


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


# --- markdown ------------------------------------------------------------------

def markdown(results: dict, targets: list[Target], plots: dict[str, Path]) -> str:
    options, env = results["options"], results["environment"]
    parts = [
        "# ragsite cache benchmark",
        f"Commit `{env.get('commit')}`, {results.get('seconds')} s. Options: `{json.dumps(options)}`",
        "## Targets",
        _table(["target", "measured", "goal", ""], [_target_row(t) for t in targets]),
    ]
    for profile, data in results["profiles"].items():
        parts += [f"## Profile `{profile}`"]
        if "error" in data:
            parts += [f"**Failed:** `{data['error']}`"]
        for transport in ("in_process", "http"):
            if transport in data:
                parts += [f"### Latency, {transport.replace('_', '-')} (ms)", latency_table(data[transport])]
        if "throughput" in data:
            parts += ["### Exact hits vs bare DRF over HTTP", throughput_table(data["throughput"])]
        if "memory" in data:
            parts += ["### Redis memory per entry (MEMORY USAGE, bytes)", memory_table(data["memory"])]
        if "stale" in data:
            parts += ["### Served stale (past the TTL, refreshed in the background) vs fresh exact hits, in-process (ms)",
                      stale_table(data["stale"])]
        if "streamed" in data:
            parts += ["### Streamed over HTTP: time to first byte and to first answer text (ms)", streamed_table(data["streamed"])]
        stampedes = [(k, v) for k, v in data.items() if k.startswith("stampede_")]
        if stampedes:
            parts += ["### Stampede", _table(["where", "threads", "LLM calls", "outcomes", "seconds"], [
                [k.removeprefix("stampede_"), v["threads"], v["llm_calls"], _outcomes(v["outcomes"]), v["seconds"]] for k, v in stampedes
            ])]
    if "semantic_scale" in results:
        scale = results["semantic_scale"]
        parts += ["## Semantic lookup at scale (ms)", scale_table(scale) if "sizes" in scale else f"**Failed:** `{scale['error']}`"]
    if "displacement" in results:
        moved = results["displacement"]
        parts += ["## A document change's displacement check (PostgreSQL plan + execute, ms)",
                  displacement_table(moved) if "sizes" in moved else f"**Failed:** `{moved['error']}`"]
    if "redis_modes" in results:
        modes = results["redis_modes"]
        parts += ["## One Valkey vs a 3-master Redis Cluster: exact hits in-process",
                  redis_modes_table(modes) if "cluster" in modes else f"**Failed:** `{modes['error']}`"]
    if "ingest_memory" in results:
        ingest = results["ingest_memory"]
        parts += ["## Job worker memory around a large document's ingest (RSS, MB)",
                  ingest_memory_table(ingest) if "rss_mb" in ingest else f"**Failed:** `{ingest['error']}`"]
    parts += [f"![{name}]({path.name})" for name, path in plots.items()]
    parts += [METHOD.format(
        chat_low=options["chat_ms"][0], chat_high=options["chat_ms"][1], embed_ms=options["embed_ms"],
        cpus=env["cpus"], load_start=_load(env.get("load_average_start")), load_end=_load(env.get("load_average_end")),
    )]
    return "\n\n".join(parts) + "\n"


def _load(values) -> str:
    return "/".join(f"{v:.1f}" for v in values) if values else "?"


def _outcomes(outcomes: dict) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items()))


def latency_table(data: dict) -> str:
    rows = []
    for phase in PHASES:
        stages = data["phases"][phase]["stages"]
        rows.append([phase, stages["wall"]["n"], _outcomes(data["phases"][phase]["outcomes"])] + [
            f"{_fmt(stages[s]['p50'])} / {_fmt(stages[s]['p95'])}" for s in STAGE_COLUMNS
        ])
    table = _table(["phase", "n", "outcomes", *(f"{s} p50 / p95" for s in STAGE_COLUMNS)], rows)
    speedup = data["speedup"]
    return table + (
        f"\n\nSpeedup of p50 wall (pipeline total): exact hit {_fmt(speedup['exact_wall'], '×')} "
        f"({_fmt(speedup['exact_total'], '×')}), semantic hit {_fmt(speedup['semantic_wall'], '×')} "
        f"({_fmt(speedup['semantic_total'], '×')})."
    )


def streamed_table(streamed: dict) -> str:
    return _table(["answer", "stream", "first byte p50", "first byte p95", "first delta p50", "first delta p95"], [
        [name, ", ".join(data["kinds"]), _fmt(data["first_byte_ms"]["p50"]), _fmt(data["first_byte_ms"]["p95"]),
         _fmt(data["first_delta_ms"]["p50"]), _fmt(data["first_delta_ms"]["p95"])]
        for name, data in streamed.items()
    ])


def throughput_table(cells: list[dict]) -> str:
    rows = [[
        c["concurrency"], _fmt(c["ask"]["rps"]), _fmt(c["bare"]["rps"]), _fmt(c["rps_share_of_bare"]),
        f"{_fmt(c['ask']['latency']['p50'])} / {_fmt(c['ask']['latency']['p95'])}",
        f"{_fmt(c['bare']['latency']['p50'])} / {_fmt(c['bare']['latency']['p95'])}",
        _fmt(c["p50_over_bare"], "×"), _outcomes(c["ask"]["x_cache"]), _outcomes(c["ask"]["statuses"]),
    ] for c in cells]
    return _table(["concurrency", "ask req/s", "bare req/s", "ask/bare", "ask p50 / p95 ms", "bare p50 / p95 ms",
                   "p50 ratio", "ask X-Cache", "ask statuses"], rows)


def memory_table(memory: dict) -> str:
    rows = [[kind, m["entries"], _fmt(m["bytes"]["p50"]), _fmt(m["bytes"]["mean"]), _fmt(m["total_bytes"])] for kind, m in memory.items()]
    return _table(["entry", "count", "p50 bytes", "mean bytes", "total bytes"], rows)


def ingest_memory_table(ingest: dict) -> str:
    rss = ingest["rss_mb"]
    return _table(
        ["characters", "chunks", "job s", "baseline", "peak", "at ready", "after", "after a second one"],
        [[f"{ingest['characters']:,}", ingest["chunks"], ingest["job_seconds"], rss["baseline"], rss["peak"],
          rss["at_ready"], rss["after"], rss["after_second"]]],
    )


def redis_modes_table(modes: dict) -> str:
    def row(mode: str) -> list[str]:
        m = modes[mode]
        answer_bytes = sum(m["memory"][kind]["bytes"]["mean"] or 0 for kind in ("embedding", "retrieval", "response"))
        return [mode, _fmt(m["latency"]["p50"], "ms"), _fmt(m["latency"]["p95"], "ms"), _fmt(m["hits_per_second"]),
                _fmt(m["round_trips_per_hit"]), _fmt(m["commands_per_hit"]), _fmt(answer_bytes)]

    ratios = modes["cluster_over_standalone"]
    return _table(["mode", "p50", "p95", "hits/s (1 thread)", "round trips/hit", "commands/hit", "bytes/answer (3 layers)"],
                  [row("standalone"), row("cluster")]) + (
        f"\n\nCluster / standalone: p50 {_fmt(ratios['p50'])}x, throughput {_fmt(ratios['hits_per_second'])}x."
    )


def scale_table(scale: dict) -> str:
    rows = []
    for row in scale["sizes"]:
        near, far, naive = row["pgvector"]["near"], row["pgvector"]["far"], row.get("naive")
        server = row["pgvector"]["near_server"]
        rows.append([
            f"{row['size']:,}", f"{_fmt(near['p50'])} / {_fmt(near['p95'])}", f"{_fmt(server['p50'])} / {_fmt(server['p95'])}",
            f"{_fmt(far['p50'])} / {_fmt(far['p95'])}",
            f"{_fmt(naive['p50'])} (n={naive['n']})" if naive else "not run", _fmt(row.get("naive_over_pgvector"), "×"),
            row["index_build_s"], _fmt(row["heap_bytes"] / row["size"]), _fmt(row["hnsw_bytes"] / row["size"]),
        ])
    return _table(["rows", "pgvector near p50 / p95", "of which PostgreSQL (plan + execute)", "pgvector far p50 / p95", "naive scan p50", "naive / pgvector",
                   "HNSW build s", "heap B/row", "HNSW B/row"], rows)


def stale_table(stale: dict) -> str:
    rows = [[name.replace("_", " "), data["n"], f"{_fmt(data['p50'])} / {_fmt(data['p95'])}", _outcomes(data["outcomes"])]
            for name, data in (("fresh_hit", stale["fresh_hit"]), ("stale_hit", stale["stale_hit"]))]
    return _table(["read", "n", "p50 / p95", "outcomes"], rows) + f"\n\nStale p50 / fresh p50: {_fmt(stale['stale_over_fresh_p50'], '×')}"


def displacement_table(moved: dict) -> str:
    rows = []
    for row in moved["sizes"]:
        for kind in ("edit", "new_document"):
            probe = row[kind]
            rows.append([f"{row['size']:,}", kind.replace("_", " "), probe["chunks"], probe["statements"],
                         f"{_fmt(probe['database_ms_p50'])} / {_fmt(probe['database_ms_max'])}",
                         f"{probe['found']} of {probe['planted']}", probe["repeats"]])
    return _table(["cached questions", "change", "new chunks", "statements", "p50 / max", "planted questions found", "runs"], rows)


# --- plots ------------------------------------------------------------------------

def plots_write(results: dict, output: Path) -> dict[str, Path]:
    plots = {}
    for name, draw in (("latency", _plot_latency), ("throughput", _plot_throughput),
                       ("semantic_scale", _plot_scale), ("memory", _plot_memory)):
        figure = draw(results)
        if figure is not None:
            plots[name] = output / f"{name}.png"
            figure.savefig(plots[name], dpi=110, bbox_inches="tight")
            plt.close(figure)
    return plots


def _plot_latency(results: dict):
    groups = [(f"{p}\n{t.replace('_', '-')}", d[t]) for p, d in results["profiles"].items() for t in ("in_process", "http") if t in d]
    if not groups:
        return None
    figure, axes = plt.subplots(figsize=(9, 4.5))
    width = 0.27
    for i, phase in enumerate(PHASES):
        p50 = [g["phases"][phase]["stages"]["wall"]["p50"] or 0 for _, g in groups]
        p95 = [g["phases"][phase]["stages"]["wall"]["p95"] or 0 for _, g in groups]
        xs = [x + (i - 1) * width for x in range(len(groups))]
        axes.bar(xs, p50, width, label=f"{phase} p50")
        axes.scatter(xs, p95, marker="_", color="black", s=200, zorder=3, label="p95" if i == 0 else None)
    axes.set_xticks(range(len(groups)), [label for label, _ in groups])
    axes.set_yscale("log")
    axes.set_ylabel("ms the caller waited (log)")
    axes.set_title("Cold vs exact hit vs semantic hit")
    axes.legend()
    return figure


def _plot_throughput(results: dict):
    cells = results["profiles"].get("local", {}).get("throughput")
    if not cells:
        return None
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    levels = [c["concurrency"] for c in cells]
    for endpoint in ("ask", "bare"):
        label = "POST /api/ask (exact hit)" if endpoint == "ask" else "bare DRF"
        left.plot(levels, [c[endpoint]["rps"] for c in cells], marker="o", label=label)
        right.plot(levels, [c[endpoint]["latency"]["p50"] for c in cells], marker="o", label=label)
    left.set(xscale="log", xlabel="concurrency", ylabel="requests/s", title="Throughput")
    right.set(xscale="log", yscale="log", xlabel="concurrency", ylabel="p50 ms", title="Latency under load")
    left.legend()
    return figure


def _plot_scale(results: dict):
    rows = results.get("semantic_scale", {}).get("sizes")
    if not rows:
        return None
    figure, axes = plt.subplots(figsize=(7, 4.5))
    sizes = [r["size"] for r in rows]
    axes.plot(sizes, [r["pgvector"]["near"]["p50"] for r in rows], marker="o", label="pgvector HNSW, near probe")
    axes.plot(sizes, [r["pgvector"]["far"]["p50"] for r in rows], marker="o", label="pgvector HNSW, far probe")
    axes.plot(sizes, [r["pgvector"]["near_server"]["p50"] for r in rows], marker=".", linestyle=":",
              label="near probe, PostgreSQL plan + execute only")
    naive = [(r["size"], r["naive"]["p50"]) for r in rows if "naive" in r]
    if naive:
        axes.plot(*zip(*naive), marker="s", label="naive Redis SCAN + numpy")
    axes.set(xscale="log", yscale="log", xlabel="cached questions", ylabel="p50 ms per lookup", title="Semantic lookup")
    axes.legend()
    return figure


def _plot_memory(results: dict):
    profiles = [(p, d["memory"]) for p, d in results["profiles"].items() if "memory" in d]
    if not profiles:
        return None
    kinds = list(profiles[0][1])
    figure, axes = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(profiles)
    for i, (profile, memory) in enumerate(profiles):
        axes.bar([k + i * width for k in range(len(kinds))], [memory[kind]["bytes"]["p50"] or 0 for kind in kinds], width, label=profile)
    axes.set_xticks([k + width * (len(profiles) - 1) / 2 for k in range(len(kinds))], kinds)
    axes.set(ylabel="bytes per entry (p50)", title="Redis MEMORY USAGE per entry")
    axes.legend()
    return figure
