import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from bench.evaluation import (
    hit_rates, pair_evaluate, pairs_load, pairs_split, split_report, threshold_recommend, threshold_sweep,
)
from cache_policies.calibration import smallest_provable, threshold_derive
from cache_policies.models import CachePolicy, Layer
from cache_policies.services import semantic_threshold_apply


class Command(BaseCommand):
    help = "Run question pairs through the live semantic layer: same-answer hit rate, false-hit rate, threshold sweep."

    def add_arguments(self, parser):
        parser.add_argument("--pairs", required=True, help='JSON lines {"a": ..., "b": ..., "same": true|false}')
        parser.add_argument("--target-false-hit", type=float, default=0.0)
        parser.add_argument(
            "--split", action="store_true",
            help="Derive the threshold from the wrong-answer budget on one half of the pairs, report on the other.",
        )
        parser.add_argument("--max-wrong-rate", type=float, help="With --split: the budget (default: the policy's).")
        parser.add_argument("--apply", action="store_true", help="With --split: store the budget and derived threshold.")

    def handle(self, *args, pairs, target_false_hit, split, max_wrong_rate, apply, verbosity, **options):
        if not Path(pairs).is_file():
            raise CommandError(f"No such file: {pairs}")
        if apply and not split:
            raise CommandError("--apply needs --split: a threshold is derived on one half and checked on the other.")
        if split:
            return self._split(pairs=pairs_load(path=pairs), budget=max_wrong_rate, apply=apply, verbosity=verbosity)
        outcomes = self._evaluate(pairs=pairs_load(path=pairs), verbosity=verbosity)
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

    def _evaluate(self, *, pairs, verbosity):
        outcomes = []
        for pair in pairs:
            outcome = pair_evaluate(pair=pair)
            outcomes.append(outcome)
            if verbosity >= 2:
                verdict = "SERVED" if outcome.served else f"miss ({outcome.rejection or 'below threshold'})"
                kind = "same" if pair.same else "diff"
                self.stdout.write(f"{kind} {outcome.similarity:.3f} {verdict}: {pair.a} | {pair.b}")
        return outcomes

    def _split(self, *, pairs, budget, apply, verbosity):
        policy = CachePolicy.objects.get(layer=Layer.SEMANTIC)
        budget = policy.max_wrong_rate if budget is None else budget
        tune, held_out = pairs_split(pairs=pairs)
        started = time.monotonic()
        decisions = [o.decision for o in self._evaluate(pairs=tune, verbosity=verbosity)]
        derived = threshold_derive(decisions=decisions, max_wrong_rate=budget)
        seconds = time.monotonic() - started
        if derived is None:
            best = smallest_provable(decisions=decisions)
            verdict = (f"no threshold proves a {budget:.1%} budget on {len(tune)} tune pairs (the best, "
                       f"{best.threshold:.2f}, proves {best.wrong_upper:.1%})")
            if apply:
                raise CommandError(f"{verdict}; the policy is unchanged.")
        else:
            verdict = (f"threshold {derived.threshold:.2f} derived for a {budget:.1%} budget on {len(tune)} tune pairs "
                       f"(wrong share of served at most {derived.wrong_upper:.1%})")
        threshold = derived.threshold if derived else policy.similarity_threshold
        rows = split_report(outcomes=self._evaluate(pairs=held_out, verbosity=verbosity), threshold=threshold)
        if verbosity >= 1:
            self.stdout.write(f"held-out half ({len(held_out)} pairs) at threshold {threshold:.2f}:")
            self.stdout.write("\n".join(map(str, rows)))
        if apply:
            semantic_threshold_apply(derived=derived, max_wrong_rate=budget)
        wrong = rows[-1]
        stored = "; stored in the policy" if apply else ""
        self.stdout.write(f"Done! {verdict} in {seconds:.0f} s; held out: {wrong.hits} of {wrong.n} served hits wrong{stored}")
