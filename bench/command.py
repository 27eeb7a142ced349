"""`python -m bench` (`make bench`): what the cache layers buy on the sample knowledge base (the issue's targets).

Writes report.md, results.json and PNG plots to bench-results/ and prints the targets table.
Runs against the dev servers, under its own Redis key prefix: the developer's cache is left alone.
"""

import time
from dataclasses import replace
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bench.report import report_write, short_table
from bench.run import QUICK, BenchOptions, bench_run


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise CommandError(f"expected comma-separated integers, got {text!r}") from None


def _range(text: str) -> tuple[float, float]:
    low, _, high = text.partition(",")
    try:
        return float(low), float(high or low)
    except ValueError:
        raise CommandError(f"expected LOW,HIGH in ms, got {text!r}") from None


class Command(BaseCommand):
    help = "Benchmark the cache layers: latency cold vs hit, throughput vs bare DRF, semantic lookup at scale, memory, stampede."

    def add_arguments(self, parser):
        parser.add_argument("--quick", action="store_true", help="Tiny sizes and few requests, for development.")
        parser.add_argument("--sizes", type=_ints, help="Synthetic cached-question counts (default 1000,10000,100000).")
        parser.add_argument("--displacement-sizes", type=_ints, dest="displacement_sizes",
                            help="Cached-question counts for the displacement check (default 100000,1000000).")
        parser.add_argument("--requests", type=int, help="Requests per throughput measurement (default 1500).")
        parser.add_argument("--concurrency", type=_ints, help="Throughput concurrency levels (default 1,8,32).")
        parser.add_argument("--questions", type=int, help="How many of the 20 questions to ask.")
        parser.add_argument("--rounds", type=int, help="Latency rounds for the local profile (default 3).")
        parser.add_argument("--workers", type=int, help="gunicorn workers (default 2).")
        parser.add_argument("--stampede", type=int, dest="stampede_threads", help="Concurrent cold questions (default 50).")
        parser.add_argument("--naive-max", type=int, help="Largest size for the naive Redis scan (default 100000).")
        parser.add_argument("--embed-latency-ms", type=float, dest="embed_ms", help="openai profile: per embedding call (default 300).")
        parser.add_argument("--chat-latency-ms", type=_range, dest="chat_ms", help="openai profile: LOW,HIGH per answer (default 1000,3000).")
        parser.add_argument("--skip-http", action="store_true", help="No gunicorn: in-process only.")
        parser.add_argument("--skip-openai", action="store_true", help="Only the local providers.")
        parser.add_argument("--skip-scale", action="store_true", help="No semantic lookup at scale.")
        parser.add_argument("--skip-cluster", action="store_true", help="No one-Valkey vs Redis Cluster comparison.")
        parser.add_argument("--cluster-hits", type=int, help="Exact hits timed per Redis mode (default 2000).")
        parser.add_argument("--output", type=Path, default=Path(settings.BASE_DIR) / "bench-results")

    def handle(self, *args, **opts):
        options = BenchOptions(output=opts["output"], log=self._progress(opts["verbosity"]))
        if opts["quick"]:
            options = replace(options, **QUICK)
        chosen = {name: opts[name] for name in (
            "sizes", "displacement_sizes", "requests", "concurrency", "questions", "rounds", "workers", "stampede_threads", "naive_max", "embed_ms", "chat_ms",
            "cluster_hits",
        ) if opts[name] is not None}
        options = replace(options, **chosen, http=not opts["skip_http"], openai=not opts["skip_openai"], scale=not opts["skip_scale"],
                          cluster=not opts["skip_cluster"])
        results = bench_run(options)
        paths = report_write(results, options.output)
        self.stdout.write(short_table(results))
        self.stdout.write(f"Done in {results['seconds']} s: {paths['markdown']}")

    def _progress(self, verbosity: int):
        started = time.monotonic()

        def log(message: str) -> None:
            if verbosity >= 1:
                self.stderr.write(f"{time.monotonic() - started:6.1f}s  {message}")

        return log
