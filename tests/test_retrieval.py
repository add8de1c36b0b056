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


# ------------------------------------------------------------------ exact search on torch (the engine on CUDA)
def test_torch_search_equals_faiss_and_brute_force_across_block_edges():
    """The engine a CUDA device runs when faiss-gpu is absent, here on the CPU with small blocks so that every
    query block and product block edge is crossed (37 queries, 250 products, k = 10)."""
    from mmpaper.retrieval import torch_search

    rng = np.random.default_rng(5)
    q, p = _unit(rng.normal(size=(37, 8))), _unit(rng.normal(size=(250, 8)))
    scores, ids = torch_search(q, p, 10, device="cpu", block_elements=16 * 64)
    ref_scores, ref_ids = brute_force_topk(q, p, 10)
    faiss_scores, faiss_ids = search(q, p, 10, engine="faiss")
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_array_equal(ids, faiss_ids)
    np.testing.assert_allclose(scores, ref_scores, atol=1e-6)
    np.testing.assert_allclose(scores, faiss_scores, atol=1e-6)
    assert ids.dtype == np.int64 and scores.dtype == np.float32
    via_search = search(q, p, 10, engine="torch")                     # what search runs on a GPU machine
    np.testing.assert_array_equal(via_search[1], ref_ids)


@pytest.mark.parametrize("block_elements", [16 * 64, 1 << 28])
def test_torch_search_with_ties_puts_lower_rows_first_and_agrees_with_faiss_on_scores(block_elements):
    """Integer embeddings tie everywhere: every rank has the brute-force score, the ids really have those scores,
    no id repeats, and equal scores come in product-row order (FAISS promises no order among ties)."""
    from mmpaper.retrieval import torch_search

    rng = np.random.default_rng(1)
    p = rng.integers(-1, 2, size=(300, 4)).astype(np.float32)
    q = rng.integers(-1, 2, size=(25, 4)).astype(np.float32)
    scores, ids = torch_search(q, p, 15, device="cpu", block_elements=block_elements)
    ref_scores, ref_ids = brute_force_topk(q, p, 15)
    np.testing.assert_array_equal(scores, ref_scores.astype(np.float32))
    np.testing.assert_array_equal(scores, search(q, p, 15, engine="faiss")[0])
    np.testing.assert_array_equal(np.take_along_axis(q @ p.T, ids, axis=1), scores)
    assert all(len(set(row)) == 15 for row in ids)
    for s, i in zip(scores, ids):  # within a run of equal scores, rows ascend
        same = s[1:] == s[:-1]
        assert (i[1:][same] > i[:-1][same]).all()
    # where no tie straddles the k-th rank the top-k set is unique, and the ids equal the stable brute force's
    ranked = -np.sort(-(q @ p.T), axis=1)
    whole = ranked[:, 14] > ranked[:, 15]
    assert whole.any()
    np.testing.assert_array_equal(ids[whole], ref_ids[whole])


def test_exact_engine_picks_faiss_on_a_cpu_and_refuses_a_gpu_that_is_not_there(monkeypatch):
    from mmpaper import retrieval

    monkeypatch.setattr(retrieval, "gpu_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert retrieval.exact_engine() == "faiss" and retrieval.exact_engine(False) == "faiss"
    with pytest.raises(ValueError, match="no GPU"):
        retrieval.exact_engine(True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)      # a CUDA device, no faiss-gpu
    assert retrieval.exact_engine() == "torch" and retrieval.exact_engine(True) == "torch"
    assert retrieval.exact_engine(False) == "faiss"                    # a preset pinned to the CPU stays there
    monkeypatch.setattr(retrieval, "gpu_available", lambda: True)
    assert retrieval.exact_engine() == "faiss-gpu"
    with pytest.raises(ValueError, match="unknown engine"):
        search(np.ones((2, 3), np.float32), np.ones((4, 3), np.float32), 1, engine="cuvs")


def test_torch_search_keeps_full_float32_when_tf32_is_allowed():
    from mmpaper.retrieval import torch_search

    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    try:
        rng = np.random.default_rng(6)
        q, p = _unit(rng.normal(size=(20, 16))), _unit(rng.normal(size=(400, 16)))
        np.testing.assert_array_equal(torch_search(q, p, 10, device="cpu")[1], brute_force_topk(q, p, 10)[1])
        assert torch.get_float32_matmul_precision() == "high"           # put back as it was
    finally:
        torch.set_float32_matmul_precision(before)


def test_embed_in_autocast_returns_float32():
    layer = torch.nn.Linear(8, 4)
    out = embed(lambda b: layer(b["x"]), [{"x": torch.randn(3, 8)}], progress=False, dtype=torch.bfloat16)
    assert out.dtype == np.float32 and out.shape == (3, 4)
    plain = embed(lambda b: layer(b["x"]), [{"x": torch.ones(2, 8)}], progress=False)
    np.testing.assert_allclose(plain, layer(torch.ones(2, 8)).detach().numpy())


@pytest.mark.gpu
def test_torch_search_on_cuda_equals_faiss_at_a_large_size():
    """Where CUDA is present: the torch engine on the GPU against faiss-cpu on 4,096 × 200,000 (d = 64)."""
    from mmpaper.retrieval import torch_search

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    rng = np.random.default_rng(7)
    q, p = _unit(rng.normal(size=(4096, 64))), _unit(rng.normal(size=(200_000, 64)))
    scores, ids = torch_search(q, p, 100, device="cuda")
    ref_scores, ref_ids = search(q, p, 100, engine="faiss")
    assert (ids == ref_ids).mean() > 0.9999                       # random floats: ties (and near-ties) are rare
    np.testing.assert_allclose(scores, ref_scores, atol=1e-5)
    assert search(q[:64], p, 100)[1].shape == (64, 100)            # the automatic engine on this machine
