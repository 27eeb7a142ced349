from qa.providers.base import Passage
from qa.providers.extractive import NOTHING_FOUND, ExtractiveGenerator

WITH = (
    'The "with" statement wraps a block with methods of a context manager. '
    "It was added to Python long ago. "
    'The context manager\'s "__exit__()" method is always called, even when an exception occurs.'
)
TRY = (
    'The "try" statement specifies exception handlers. '
    "A finally clause runs on the way out, whatever happened. "
    "Nothing else here mentions the other thing."
)


def passage(index: int, text: str) -> Passage:
    return Passage(chunk_id=index, document_id=index, document_slug=f"d{index}", document_title=f"Doc {index}",
                   document_version=1, text=text, score=0.5)


def answer(question: str, *texts: str):
    return ExtractiveGenerator(model="extractive-v1").generate(
        question=question, passages=[passage(i, t) for i, t in enumerate(texts)]
    )


def test_it_answers_with_the_best_matching_sentences_and_cites_them():
    generation = answer("How does the with statement call __exit__?", WITH, TRY)

    assert generation.text == (
        'The "with" statement wraps a block with methods of a context manager. [1] '
        'The context manager\'s "__exit__()" method is always called, even when an exception occurs. [1]'
    )
    assert generation.cited == [0]
    assert generation.model == "extractive-v1"


def test_it_keeps_the_chosen_sentences_in_passage_order_across_passages():
    generation = answer("When does a finally clause run, and what about __exit__?", WITH, TRY)

    assert generation.text.index("[1]") < generation.text.index("[2]")
    assert "A finally clause runs on the way out, whatever happened. [2]" in generation.text
    assert generation.cited == [0, 1]


def test_it_weighs_rare_question_words_above_common_ones():
    common = " ".join(f"Statement number {n} is a statement." for n in range(4))
    rare = "A walrus sits on the rock."

    generation = answer("walrus statement", common, rare)

    # "statement" is in 4 of the 5 sentences, "walrus" in 1: the walrus outweighs the top passage's rank.
    assert generation.text == (
        "Statement number 0 is a statement. [1] Statement number 1 is a statement. [1] A walrus sits on the rock. [2]"
    )


def test_it_prefers_the_higher_ranked_passage_on_a_tie():
    same = "Generators yield values lazily, one at a time."

    generation = answer("What do generators yield?", same.replace("Generators", "Iterators"), same)

    assert generation.text.startswith("Iterators yield values lazily, one at a time. [1]")


def test_it_skips_a_sentence_repeated_by_overlapping_chunks():
    generation = answer("What does the with statement wrap?", WITH, WITH)

    assert generation.text.count('The "with" statement wraps a block') == 1


def test_it_counts_tokens_as_words():
    generation = answer("finally clause", TRY)

    assert generation.prompt_tokens == 2 + len(TRY.split())
    assert generation.completion_tokens == len(generation.text.split())


def test_it_opens_the_top_passage_when_no_word_matches():
    generation = answer("zebra", TRY, WITH)

    assert generation.text.startswith('The "try" statement specifies exception handlers. [1]')
    assert generation.cited == [0]


def test_it_says_so_politely_when_there_are_no_passages():
    generation = answer("What is a monad?")

    assert generation.text == NOTHING_FOUND == "I couldn't find anything about that in the knowledge base."
    assert generation.cited == []


def test_it_is_deterministic():
    assert answer("exception handlers and exit", WITH, TRY) == answer("exception handlers and exit", WITH, TRY)
