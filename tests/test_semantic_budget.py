"""The wrong-answer budget: a split of the labelled pairs, Wilson bounds, and a threshold derived from the budget."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from bench.evaluation import Pair, pair_evaluate, pairs_load, pairs_split
from cache_policies.calibration import Decision, threshold_derive, wilson_interval
from cache_policies.models import CachePolicy
from cache_policies.policies import policies_changed
from cache_policies.services import semantic_threshold_apply
from tests.conftest import semantic_policy_edit
from tests.test_semantic_guard import string_kb  # noqa: F401 (a fixture)

PAIRS_FILE = Path(__file__).parent / "data" / "semantic_pairs.jsonl"
# Similarities with MiniLM on the string_kb documents: 0.822, 0.750, 0.740 (same answer), 0.393, 0.594 (different).
TUNE = [
    Pair("How do I join a list of strings with commas?", "How can I concatenate strings in a list separated by a comma?", True),
    Pair("How do I convert a string to uppercase?", "How do I make every letter of a string a capital?", True),
    Pair("How do I split a string into words?", "How do I break a sentence into a list of words?", True),
    Pair("How do I convert a string to uppercase?", "How do I split a string on commas?", False),
    Pair("How do I count occurrences of a substring?", "How do I find the position of a substring?", False),
]
BORDERLINE = Pair("How do I catch an exception?", "How can I handle an error raised in a try block?", True)  # 0.543


def test_it_bounds_known_rates_with_wilson():
    assert wilson_interval(hits=0, n=0) == (0.0, 1.0)
    assert wilson_interval(hits=0, n=10) == (0.0, pytest.approx(0.2775, abs=1e-4))
    assert wilson_interval(hits=5, n=10) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    assert wilson_interval(hits=1, n=100) == (pytest.approx(0.0018, abs=1e-4), pytest.approx(0.0545, abs=1e-4))


def test_it_derives_the_loosest_threshold_whose_upper_bound_meets_the_budget():
    decisions = [Decision(0.82, True, True), Decision(0.75, True, True), Decision(0.74, True, True),
                 Decision(0.39, True, False), Decision(0.59, True, False), Decision(0.95, False, False)]

    # From 0.40 on: 4 served, 1 wrong, upper bound 69.9 %; from 0.60 on: 3 served, none wrong, 56.1 %.
    loose, tight = threshold_derive(decisions=decisions, max_wrong_rate=0.72), threshold_derive(decisions=decisions, max_wrong_rate=0.6)

    assert (loose.threshold, loose.served, loose.wrong) == (0.40, 4, 1)
    assert (tight.threshold, tight.served, tight.wrong) == (0.60, 3, 0)
    assert threshold_derive(decisions=decisions, max_wrong_rate=0.5) is None, "three pairs cannot prove 50 %"


def test_it_splits_the_pairs_file_the_same_way_every_time_into_disjoint_halves_per_kind():
    pairs = pairs_load(path=PAIRS_FILE)

    tune, held_out = pairs_split(pairs=pairs)

    assert (tune, held_out) == pairs_split(pairs=list(reversed(pairs)))
    assert not {(p.a, p.b) for p in tune} & {(p.a, p.b) for p in held_out}
    assert sorted(tune + held_out, key=repr) == sorted(pairs, key=repr)
    for kind in {p.kind for p in pairs}:
        assert abs(sum(p.kind == kind for p in tune) - sum(p.kind == kind for p in held_out)) <= 2, kind


@pytest.fixture
def guard_off(string_kb):  # noqa: F811
    """Only the threshold decides, so the test shows what the budget alone changes."""
    CachePolicy.objects.filter(layer="semantic").update(
        guard_min_overlap=0, guard_contrast=False, guard_min_evidence=0, guard_min_alignment=0,
    )
    policies_changed()


def _calibrate(*, max_wrong_rate: float) -> float:
    derived = threshold_derive(decisions=[pair_evaluate(pair=p).decision for p in TUNE], max_wrong_rate=max_wrong_rate)
    return semantic_threshold_apply(derived=derived, max_wrong_rate=max_wrong_rate).similarity_threshold


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_tighter_budget_derives_a_higher_threshold_and_refuses_a_borderline_paraphrase(guard_off):
    loose = _calibrate(max_wrong_rate=0.72)
    served_under_loose = pair_evaluate(pair=BORDERLINE).served
    tight = _calibrate(max_wrong_rate=0.6)
    served_under_tight = pair_evaluate(pair=BORDERLINE).served

    assert (loose, tight) == (0.40, 0.60)
    assert served_under_loose and not served_under_tight
    assert CachePolicy.objects.get(layer="semantic").threshold_derivation == (
        "0.60 derived from 5 labelled pairs for a budget of 60.0%: 3 served, 0 wrong, wrong share at most 56.1% (Wilson 95 %)."
    )


def _pairs_file(tmp_path: Path) -> Path:
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps({"a": p.a, "b": p.b, "same": p.same}) for p in [*TUNE, BORDERLINE]))
    return path


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_the_command_derives_on_one_half_stores_it_and_reports_the_other(guard_off, tmp_path):
    tune, held_out = pairs_split(pairs=pairs_load(path=_pairs_file(tmp_path)))
    out = StringIO()

    call_command("semantic_eval", "--pairs", str(_pairs_file(tmp_path)), "--split", "--apply", "--max-wrong-rate", "0.9",
                 stdout=out)

    policy = CachePolicy.objects.get(layer="semantic")
    assert f"held-out half ({len(held_out)} pairs) at threshold {policy.similarity_threshold:.2f}" in out.getvalue()
    assert "wrong: share of served hits" in out.getvalue() and "95% CI" in out.getvalue()
    assert policy.max_wrong_rate == 0.9
    assert f"derived from {len(tune)} labelled pairs for a budget of 90.0%" in policy.threshold_derivation


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_the_command_changes_nothing_when_the_pairs_cannot_prove_the_budget(guard_off, tmp_path):
    with pytest.raises(CommandError, match="no threshold proves a 1.0% budget on 3 tune pairs"):
        call_command("semantic_eval", "--pairs", str(_pairs_file(tmp_path)), "--split", "--apply", "--max-wrong-rate", "0.01",
                     stdout=StringIO())

    assert CachePolicy.objects.get(layer="semantic").threshold_derivation == ""


@pytest.mark.redis
@pytest.mark.django_db
def test_it_edits_the_budget_in_the_admin_and_says_what_it_does(admin_client):
    policy = CachePolicy.objects.get(layer="semantic")
    CachePolicy.objects.filter(pk=policy.pk).update(threshold_derivation="0.60 derived from 5 labelled pairs")
    form, page, policy = semantic_policy_edit(admin_client, similarity_threshold=0.5, max_wrong_rate=0.02)

    assert 'name="max_wrong_rate"' in form and "0.60 derived from 5 labelled pairs" in form
    assert "Semantic wrong-answer budget 1.0% → 2.0%: the budget floor is set again from the verified hits" in page
    assert (policy.max_wrong_rate, policy.similarity_threshold, policy.threshold_derivation) == (0.02, 0.5, "")
