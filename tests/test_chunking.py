from pydoc_data.topics import topics

from qa.chunking import chunk_text, sentence_split


def test_it_keeps_a_short_text_in_one_chunk():
    assert chunk_text(text="One sentence. Two sentences.") == ["One sentence. Two sentences."]


def test_it_returns_no_chunk_for_blank_text():
    assert chunk_text(text=" \n\n \n") == []


def test_it_repeats_the_last_sentence_at_the_start_of_the_next_chunk():
    sentences = [f"Sentence number {n} is here." for n in range(6)]  # 27 characters each

    chunks = chunk_text(text=" ".join(sentences), target=60, overlap_chars=30)

    assert chunks == [
        "Sentence number 0 is here. Sentence number 1 is here.",
        "Sentence number 1 is here. Sentence number 2 is here.",
        "Sentence number 2 is here. Sentence number 3 is here.",
        "Sentence number 3 is here. Sentence number 4 is here.",
        "Sentence number 4 is here. Sentence number 5 is here.",
    ]


def test_it_overlaps_by_at_most_two_sentences():
    chunks = chunk_text(text="A b. C d. E f. G h. I j. K l.", target=15, overlap_chars=100)

    assert chunks == ["A b. C d. E f.", "C d. E f. G h.", "E f. G h. I j.", "G h. I j. K l."]


def test_it_splits_a_sentence_longer_than_the_target_at_spaces():
    long_sentence = " ".join(["word"] * 100)  # 499 characters, no full stop

    chunks = chunk_text(text=long_sentence, target=100)

    assert all(len(chunk) <= 100 for chunk in chunks)
    assert " ".join(chunks).split() == long_sentence.split()


def test_it_hard_splits_a_long_run_without_spaces():
    chunks = chunk_text(text="x" * 250, target=100)

    assert [len(chunk) for chunk in chunks] == [100, 100, 50]


def test_it_keeps_paragraph_breaks_inside_a_chunk():
    assert chunk_text(text="First paragraph.\n\n\nSecond one.") == ["First paragraph.\n\nSecond one."]


def test_it_does_not_end_a_sentence_after_a_list_number_or_eg():
    sentences = sentence_split(text="Steps:\n\n1. Open it, e.g. with a key. Then close it.")

    assert [s.text for s in sentences] == ["Steps:", "1. Open it, e.g. with a key.", "Then close it."]


def test_it_chunks_the_sample_topics_within_the_target_and_never_empty():
    for key, text in topics.items():
        chunks = chunk_text(text=text)
        assert chunks, key
        assert all(0 < len(chunk.strip()) and len(chunk) <= 800 for chunk in chunks), key
