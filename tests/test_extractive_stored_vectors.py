"""The offline answerer on really embedded documents: it ranks by the sentence vectors stored at ingest."""

import pytest

from qa import providers
from qa.chunking import sentence_split
from qa.providers.extractive import ExtractiveGenerator
from qa.retrieval import chunk_search
from qa.services import document_ingest

TUPLES = (
    "Tuples are immutable sequences of items. "
    "Once a tuple is built, its items cannot be replaced, added or removed. "
    "Lists, by contrast, are mutable and can change in place. "
    "The walrus operator assigns a value inside an expression."
)
SORTING = "A list can be sorted in place with its sort method. The sorted function returns a new sorted list."


@pytest.fixture
def answered(transactional_db):
    """Ask a question over two stored documents, as the pipeline does on a miss."""
    document_ingest(slug="tuples", title="Tuples", content=TUPLES)
    document_ingest(slug="sorting", title="Sorting", content=SORTING)

    def ask(question: str):
        vector = providers.embedder().embed([question])[0]
        passages = chunk_search(embedding=vector, k=2)
        return passages, ExtractiveGenerator(model="extractive-v1").generate(
            question=question, passages=passages, embedding=vector
        )

    return ask


def test_it_answers_with_adjacent_sentences_of_one_chunk(answered):
    passages, generation = answered("Can the items of a tuple be changed after it is created?")

    cited = passages[generation.cited[0]]
    sentences = [" ".join(s.text.split()) for s in sentence_split(text=cited.text)]
    body = generation.text.rsplit(" [", 1)[0]
    used = [i for i, sentence in enumerate(sentences) if sentence in body]
    assert cited.document_slug == "tuples"
    assert "cannot be replaced" in body
    assert used == list(range(used[0], used[-1] + 1)), "the answer reads as one passage, not fragments"
    assert " ".join(sentences[i] for i in used) == body
    assert "sorted" not in body, "nothing from the other chunk joins it"


def test_it_keeps_the_citation_of_the_passage_it_quotes(answered):
    passages, generation = answered("How do I sort a list?")

    assert passages[generation.cited[0]].document_slug == "sorting"
    assert generation.text.endswith(f" [{generation.cited[0] + 1}]")
