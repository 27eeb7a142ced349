import numpy as np

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
# Three sentences with hand-checkable 3-d vectors: the question (0, 0, 1) is nearest to the third.
ABC = "Alpha comes before everything else. Beta follows right after that. Gamma closes the whole list."
ABC_VECTORS = np.array([[1, 0, 0], [0.6, 0.8, 0], [0, 0.6, 0.8]], dtype=np.float32)


def passage(index: int, text: str) -> Passage:
    return Passage(chunk_id=index, document_id=index, document_slug=f"d{index}", document_title=f"Doc {index}",
                   document_version=1, text=text, score=0.5)


def answer(question: str, *texts: str, embedding=None, vectors=None):
    generator = ExtractiveGenerator(model="extractive-v1", sentence_vectors=lambda ids: vectors or {})
    return generator.generate(question=question, passages=[passage(i, t) for i, t in enumerate(texts)], embedding=embedding)


def test_it_answers_with_the_best_matching_sentence_and_cites_it():
    generation = answer("How does the with statement call __exit__?", WITH, TRY)

    # The next sentence ("It was added to Python long ago.") is too weak to join it.
    assert generation.text == 'The "with" statement wraps a block with methods of a context manager. [1]'
    assert generation.cited == [0]
    assert generation.model == "extractive-v1"


def test_it_ranks_sentences_by_their_stored_vectors_when_no_word_matches():
    generation = answer("what ends it?", ABC, embedding=np.array([0, 0, 1], dtype=np.float32), vectors={0: ABC_VECTORS})

    # Similarities 0, 0 and 0.8: Gamma anchors the answer; Beta (0 + rank bonus) is too weak to join it.
    assert generation.text == "Gamma closes the whole list. [1]"


def test_it_joins_a_relevant_neighbour_to_keep_the_passage_coherent():
    question = np.array([0, 0.8, 0.6], dtype=np.float32)  # Beta 0.64, Gamma 0.96, Alpha 0

    generation = answer("what ends it?", ABC, embedding=question, vectors={0: ABC_VECTORS})

    assert generation.text == "Beta follows right after that. Gamma closes the whole list. [1]"


def test_it_ranks_by_words_alone_when_a_chunks_vectors_do_not_match_its_sentences():
    misaligned = {0: ABC_VECTORS[:2]}  # stored before the text was split differently

    generation = answer("Gamma list", ABC, embedding=np.array([1, 0, 0], dtype=np.float32), vectors=misaligned)

    assert generation.text == "Gamma closes the whole list. [1]"


def test_it_opens_an_explanation_with_the_signature_it_explains():
    methods = "str.strip([chars])\n\nReturn a copy of the string with the leading and trailing characters removed."

    generation = answer("What does str.strip remove?", methods)

    assert generation.text == (
        "str.strip([chars]): Return a copy of the string with the leading and trailing characters removed. [1]"
    )


def test_it_anchors_on_the_entry_of_the_name_the_question_asks_about():
    dunder = "object.__str__(self)\n\nCalled by str(object) to compute the informal string representation of an object."
    method = "str.join(iterable)\n\nReturn a string which is the concatenation of the strings in iterable."
    # MiniLM reads "str.join" much as "str": the __str__ sentence is the nearer (0.6 against 0.45), and its
    # passage ranks first.
    vectors = {0: np.array([[0, 1, 0], [0.6, 0.8, 0]], dtype=np.float32),
               1: np.array([[0, 1, 0], [0.45, 0.893, 0]], dtype=np.float32)}

    generation = answer("What does str.join do?", dunder, method,
                        embedding=np.array([1, 0, 0], dtype=np.float32), vectors=vectors)

    assert generation.text == (
        "str.join(iterable): Return a string which is the concatenation of the strings in iterable. [2]")


def test_an_answer_does_not_open_with_a_sentence_that_leans_on_another():
    footnote = "[4] Identity is what the is operator compares."
    plain = "The is operator compares the identity of two objects."

    generation = answer("is operator identity", footnote, plain)

    # Both hold every word of the question, and the first passage ranks higher: without the rule it would open.
    assert generation.text == "The is operator compares the identity of two objects. [2]"


def test_a_neighbour_that_leans_on_the_sentence_before_it_does_not_open_the_passage():
    text = "Powers group from right to left. Thus a minus sign before a power applies last. The power operator raises its left argument."
    question = np.array([0, 0.8, 0.6], dtype=np.float32)  # the "Thus" sentence 0.64: relevant enough to join

    generation = answer("what does the power operator do?", text, embedding=question, vectors={0: ABC_VECTORS})

    assert generation.text == "The power operator raises its left argument. [1]"


def test_a_sentence_that_announces_a_list_it_does_not_give_is_not_an_answer_on_its_own():
    announces = "Slicing with a step is done with the following three methods."
    gives = "A slice with a step selects every k-th item: the following items are chosen: i, i+k, i+2k."
    explains = "Slicing with a step k selects the items at i, i+k, i+2k and so on, up to j."

    assert answer("How does slicing with a step work?", announces, explains).text == explains + " [2]"
    assert answer("How does slicing with a step work?", gives).text == gives + " [1]", "one that gives its list may"


def test_a_statement_that_introduces_an_example_joins_a_passage_but_does_not_open_it():
    text = (
        "Class creation can be customized with metaclasses. "
        "Classes can also be decorated: just like when decorating functions,\n\n@f1(arg)\nclass Foo: pass"
    )

    generation = answer("Can classes be decorated with metaclasses?", text)

    assert generation.text == (
        "Class creation can be customized with metaclasses. "
        "Classes can also be decorated: just like when decorating functions, [1]"
    )


def test_it_weighs_rare_question_words_above_common_ones():
    common = " ".join(f"Statement number {n} is a statement." for n in range(4))
    rare = "A walrus sits on the rock."

    generation = answer("walrus statement", common, rare)

    # "statement" is in 4 of the 5 sentences, "walrus" in 1: the walrus outweighs the top passage's rank.
    assert generation.text == "A walrus sits on the rock. [2]"
    assert generation.cited == [1]


def test_it_prefers_the_higher_ranked_passage_on_a_tie():
    same = "Generators yield values lazily, one at a time."

    generation = answer("What comes lazily?", same.replace("Generators", "Iterators"), same)

    assert generation.text == "Iterators yield values lazily, one at a time. [1]"


def test_it_skips_a_sentence_repeated_by_overlapping_chunks():
    generation = answer("What does the with statement wrap?", WITH, WITH)

    assert generation.text.count('The "with" statement wraps a block') == 1


def test_it_counts_tokens_as_words():
    generation = answer("finally clause", TRY)

    assert generation.prompt_tokens == 2 + len(TRY.split())
    assert generation.completion_tokens == len(generation.text.split())


def test_it_opens_the_top_passage_when_nothing_matches():
    generation = answer("zebra", TRY, WITH)

    assert generation.text.startswith('The "try" statement specifies exception handlers.')
    assert generation.cited == [0]


def test_it_says_so_politely_when_there_are_no_passages():
    generation = answer("What is a monad?")

    assert generation.text == NOTHING_FOUND == "I couldn't find anything about that in the knowledge base."
    assert generation.cited == []


def test_it_is_deterministic():
    assert answer("exception handlers and exit", WITH, TRY) == answer("exception handlers and exit", WITH, TRY)
