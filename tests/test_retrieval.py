import numpy as np
import pytest
import torch

from mmpaper.retrieval import brute_force_topk, embed, search


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_flat_search_equals_brute_force():
    rng = np.random.default_rng(0)
    q, p = _unit(rng.normal(size=(40, 16))), _unit(rng.normal(size=(500, 16)))
    scores, ids = search(q, p, k=20)
    ref_scores, ref_ids = brute_force_topk(q, p, 20)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_allclose(scores, ref_scores, atol=1e-5)
    assert ids.dtype == np.int64 and scores.dtype == np.float32


def test_flat_search_with_ties_returns_equally_good_ids():
    rng = np.random.default_rng(1)
    p = rng.integers(-1, 2, size=(300, 4)).astype(np.float32)   # many duplicate rows: ties everywhere
    q = rng.integers(-1, 2, size=(25, 4)).astype(np.float32)
    scores, ids = search(q, p, k=15)
    ref_scores, _ = brute_force_topk(q, p, 15)
    np.testing.assert_allclose(scores, ref_scores, atol=1e-5)     # same score at every rank
    true = np.take_along_axis(q @ p.T, ids, axis=1)
    np.testing.assert_allclose(true, scores, atol=1e-5)           # and the ids really have those scores
    assert all(len(set(row)) == 15 for row in ids)


@pytest.mark.parametrize("index", ["ivf", "hnsw"])
def test_approximate_indexes_recover_most_of_exact_top_k(index):
    rng = np.random.default_rng(2)
    q, p = _unit(rng.normal(size=(50, 16))), _unit(rng.normal(size=(2000, 16)))
    _, exact = search(q, p, k=10)
    _, approx = search(q, p, k=10, index=index, nprobe=32)
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact)])
    assert recall > 0.9


def test_search_rejects_bad_input():
    p = np.ones((5, 3), np.float32)
    with pytest.raises(ValueError, match="k=6"):
        search(p, p, k=6)
    with pytest.raises(ValueError, match="equal width"):
        search(np.ones((2, 4), np.float32), p, k=1)
    with pytest.raises(ValueError, match="NaN"):
        search(np.full((2, 3), np.nan, np.float32), p, k=1)
    with pytest.raises(ValueError, match="unknown index 'lsh'"):
        search(p, p, k=1, index="lsh")


def test_embed_concatenates_batches_and_restores_training_mode():
    layer = torch.nn.Linear(3, 2)
    layer.train()

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = layer

        def encode(self, batch):
            assert not self.training
            return self.layer(batch["x"])

    enc = Encoder().train()
    xs = [{"x": torch.randn(4, 3)}, {"x": torch.randn(2, 3)}]
    out = embed(enc.encode, xs, progress=False)
    assert out.shape == (6, 2) and out.dtype == np.float32 and out.flags["C_CONTIGUOUS"]
    assert enc.training


def test_chunked_torch_topk_equals_brute_force_across_chunk_edges():
    from mmpaper.retrieval import brute_force_topk, chunked_torch_topk

    rng = np.random.default_rng(4)
    q, p = rng.standard_normal((37, 8), dtype=np.float32), rng.standard_normal((250, 8), dtype=np.float32)
    got = chunked_torch_topk(q, p, 10, query_chunk=16, corpus_chunk=64)  # the last corpus chunk holds 58 < 64
    np.testing.assert_array_equal(got, brute_force_topk(q, p, 10)[1])
