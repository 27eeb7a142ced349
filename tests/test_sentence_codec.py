"""Sentence vectors stored as 4-bit codes with one float32 scale: small, and close enough for the guard's dot products."""

import numpy as np

from qa.sentence_codec import sentence_encode, sentences_decode


def unit_vectors(count: int, dimensions: int = 384) -> np.ndarray:
    vectors = np.random.default_rng(7).standard_normal((count, dimensions)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_it_stores_a_384_d_vector_in_196_bytes():
    assert len(sentence_encode(vector=np.ones(384, dtype=np.float32))) == 4 + 192


def test_it_decodes_a_unit_vector_to_a_unit_vector_in_nearly_its_direction():
    vector = unit_vectors(1)[0]

    decoded = sentences_decode(encoded=[sentence_encode(vector=vector)])[0]

    assert decoded.shape == (384,) and decoded.dtype == np.float32
    assert abs(np.linalg.norm(decoded) - 1.0) < 1e-5
    assert decoded @ vector > 0.98


def test_it_keeps_an_odd_dimension():
    vector = np.array([0.5, -0.25, 0.1], dtype=np.float32)

    decoded = sentences_decode(encoded=[sentence_encode(vector=vector)])

    assert decoded.shape == (1, 3)
    assert np.all(np.sign(decoded[0]) == np.sign(vector))


def test_it_keeps_a_zero_vector_zero():
    assert not sentences_decode(encoded=[sentence_encode(vector=np.zeros(3))]).any()


def test_it_decodes_several_vectors_in_their_order():
    first, second = unit_vectors(2)

    decoded = sentences_decode(encoded=[sentence_encode(vector=first), sentence_encode(vector=second)])

    assert decoded.shape == (2, 384)
    assert decoded[0] @ first > 0.98 and decoded[1] @ second > 0.98
    assert abs(decoded[0] @ second) < 0.2 and abs(decoded[1] @ first) < 0.2


def test_it_keeps_the_cosines_of_unit_vectors_within_three_hundredths():
    vectors = unit_vectors(50)

    decoded = sentences_decode(encoded=[sentence_encode(vector=v) for v in vectors])

    assert np.abs(decoded @ vectors[0] - vectors @ vectors[0]).max() < 0.03
