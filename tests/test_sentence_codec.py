"""Sentence vectors stored as int8 codes with one float32 scale: small, and close enough for the guard's dot products."""

import numpy as np

from qa.sentence_codec import sentence_encode, sentences_decode


def test_it_stores_a_384_d_vector_in_388_bytes():
    assert len(sentence_encode(vector=np.ones(384, dtype=np.float32))) == 4 + 384


def test_it_decodes_each_component_within_half_a_step():
    vector = np.array([0.5, -0.25, 0.1, 0.0], dtype=np.float32)  # step = 0.5 / 127

    decoded = sentences_decode(encoded=[sentence_encode(vector=vector)])

    assert decoded.shape == (1, 4) and decoded.dtype == np.float32
    assert decoded[0, 0] == np.float32(0.5) and decoded[0, 3] == 0.0
    assert np.all(np.abs(decoded[0] - vector) <= 0.5 / 127 / 2 + 1e-7)


def test_it_keeps_a_zero_vector_zero():
    assert not sentences_decode(encoded=[sentence_encode(vector=np.zeros(3))]).any()


def test_it_decodes_several_vectors_in_their_order():
    first, second = np.array([1.0, 0.0, -1.0]), np.array([0.0, 0.2, 0.1])

    decoded = sentences_decode(encoded=[sentence_encode(vector=first), sentence_encode(vector=second)])

    assert np.allclose(decoded, [first, second], atol=0.2 / 127)


def test_it_keeps_the_cosines_of_unit_vectors_within_a_hundredth():
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((50, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)

    decoded = sentences_decode(encoded=[sentence_encode(vector=v) for v in vectors])

    assert np.abs(decoded @ vectors[0] - vectors @ vectors[0]).max() < 0.01
