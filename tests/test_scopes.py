"""Scopes cannot leak: whatever the admin sets, an answer cached for one user never reaches another.

Every combination of the response and semantic layers' scopes, on the real Valkey and pgvector.
"""

import itertools

import pytest

from cache_policies import keys
from cache_policies.models import CachedQuestion, CachePolicy
from cache_policies.held import forget_all
from qa.pipeline import question_answer

pytestmark = [pytest.mark.redis]
QUESTION = "How does the with statement work?"
PARAPHRASE = "Explain how the with statement works"
ALICE, BOB, ANONYMOUS = 1, 2, None


def _scopes(*, response: str, semantic: str) -> None:
    CachePolicy.objects.filter(layer="response").update(scope=response)
    CachePolicy.objects.filter(layer="semantic").update(scope=semantic)
    forget_all()


@pytest.mark.parametrize("question", [QUESTION, PARAPHRASE])
@pytest.mark.parametrize("other", [BOB, ANONYMOUS])
@pytest.mark.parametrize("response, semantic", list(itertools.product(["shared", "per_user"], repeat=2)))
def test_it_never_serves_one_users_answer_to_another(kb, response, semantic, other, question):
    _scopes(response=response, semantic=semantic)
    question_answer(question=QUESTION, user_id=ALICE)
    assert question_answer(question=question, user_id=ALICE).cache["response"] in {"hit", "semantic_hit"}

    served = question_answer(question=question, user_id=other).cache["response"]

    if (response, semantic) == ("shared", "shared"):
        assert served in {"hit", "semantic_hit"}, "shared answers are shared"
    else:
        assert served == "miss"


@pytest.mark.parametrize("response, semantic", [("shared", "per_user"), ("per_user", "shared"), ("per_user", "per_user")])
def test_it_keeps_anonymous_answers_from_signed_in_users(kb, response, semantic):
    _scopes(response=response, semantic=semantic)
    question_answer(question=QUESTION, user_id=ANONYMOUS)
    assert question_answer(question=QUESTION, user_id=ALICE).cache["response"] == "miss"
    assert question_answer(question=PARAPHRASE, user_id=BOB).cache["response"] == "miss"


def test_it_never_serves_an_answer_cached_while_the_layer_was_shared_once_it_is_per_user(kb):
    _scopes(response="shared", semantic="shared")
    question_answer(question=QUESTION, user_id=ALICE)
    _scopes(response="per_user", semantic="shared")
    for user in (BOB, ANONYMOUS):
        assert question_answer(question=QUESTION, user_id=user).cache["response"] == "miss"


def test_it_skips_an_index_row_whose_answer_lives_in_another_scope(kb):
    """A row left by the old mixed scopes: shared in the index, but pointing at Alice's own answer."""
    _scopes(response="per_user", semantic="per_user")
    question_answer(question=QUESTION, user_id=ALICE)
    CachedQuestion.objects.update(scope=keys.scope_part(user_id=None, per_user=False))
    _scopes(response="shared", semantic="shared")
    assert question_answer(question=PARAPHRASE, user_id=BOB).cache["response"] == "miss"
