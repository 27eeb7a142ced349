from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from bench.evaluation import (
    hit_rates, pair_evaluate, pairs_load, threshold_recommend, threshold_sweep,
)


class Command(BaseCommand):
    help = "Run question pairs through the live semantic layer: same-answer hit rate, false-hit rate, threshold sweep."

    def add_arguments(self, parser):
        parser.add_argument("--pairs", required=True, help='JSON lines {"a": ..., "b": ..., "same": true|false}')
        parser.add_argument("--target-false-hit", type=float, default=0.0)

    def handle(self, *args, pairs, target_false_hit, verbosity, **options):
        if not Path(pairs).is_file():
            raise CommandError(f"No such file: {pairs}")
        outcomes = []
        for pair in pairs_load(path=pairs):
            outcome = pair_evaluate(pair=pair)
            outcomes.append(outcome)
            if verbosity >= 2:
                verdict = "SERVED" if outcome.served else f"miss ({outcome.rejection or 'below threshold'})"
                kind = "same" if pair.same else "diff"
                self.stdout.write(f"{kind} {outcome.similarity:.3f} {verdict}: {pair.a} | {pair.b}")
        same_rate, false_rate = hit_rates(outcomes=outcomes)
        sweep = threshold_sweep(outcomes=outcomes)
        best = threshold_recommend(sweep=sweep, target_false_hit=target_false_hit)
        if verbosity >= 1:
            self.stdout.write("threshold  same-hit  false-hit")
            for row in sweep:
                mark = "  <- recommended" if row == best else ""
                self.stdout.write(f"{row.threshold:9.2f}  {row.same_hit_rate:8.0%}  {row.false_hit_rate:9.0%}{mark}")
        same_n = sum(o.pair.same for o in outcomes)
        recommended = f"{best.threshold:.2f}" if best else "none meets the target"
        self.stdout.write(
            f"Done! {len(outcomes)} pairs: same-answer hit rate {same_rate:.0%} of {same_n}, "
            f"false-hit rate {false_rate:.0%} of {len(outcomes) - same_n}; recommended threshold {recommended}"
        )
