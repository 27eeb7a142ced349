"""The "most repeated questions" ranking stays bounded however many distinct questions arrive."""

import pytest

from cache_policies import keys, stats
from cache_policies.stats import StatsRecorder, flush_pending
from cache_policies.stats_selectors import questions_top

pytestmark = [pytest.mark.redis, pytest.mark.django_db]  # the counts go to PostgreSQL, the ranking to Redis


def _asked(text: str) -> None:
    recorder = StatsRecorder()
    recorder.add("requests")
    recorder.question = (keys.text_hash(text), keys.normalize_text(text))
    recorder.submit()


def test_it_keeps_the_question_ranking_and_texts_bounded_after_5000_distinct_questions(redis_conn):
    for _ in range(3):
        _asked("What does the with statement do?")
    for i in range(5000):
        _asked(f"Distinct question number {i}?")
        if i % 1000 == 999:
            flush_pending()  # several flushes, as a running site would write them
    flush_pending()

    assert redis_conn.zcard(keys.stats_questions_rank_key()) == stats.QUESTIONS_KEPT
    assert redis_conn.hlen(keys.stats_questions_text_key()) == stats.QUESTIONS_KEPT
    ranked = set(redis_conn.zrange(keys.stats_questions_rank_key(), 0, -1))
    assert ranked == set(redis_conn.hkeys(keys.stats_questions_text_key())), "every kept rank has its text, and only those"
    top = questions_top(limit=1)
    assert (top[0].question, top[0].count) == ("what does the with statement do", 3)
