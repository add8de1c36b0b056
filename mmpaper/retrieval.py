"""Retrieval (§4.2 steps i–ii): embed every query and product, then FAISS kNN top-k.

"Embed" and "score" are kept apart: :func:`embed` turns batches into a float32 matrix, :func:`search` turns two
matrices into ``(scores, ids)``. Exact search calls ``faiss.knn`` on the arrays themselves, so no copy of the
product matrix is made (memory stays at the embedding matrix plus FAISS's fixed-size blocks), and it runs on the
GPU through ``faiss.knn_gpu`` when faiss-gpu and a GPU are present. IVF and HNSW are the approximate options.
"""
from __future__ import annotations

from typing import Callable, Iterable, Mapping

import numpy as np
import torch

INDEXES = ("flat", "ivf", "hnsw")


def _to_device(batch: Mapping[str, torch.Tensor], device) -> dict:
    return {k: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}


@torch.no_grad()
def embed(encode: Callable[[Mapping[str, torch.Tensor]], torch.Tensor], batches: Iterable[Mapping],
          *, device: str | torch.device = "cpu", desc: str = "embedding", progress: bool = True,
          total: int | None = None) -> np.ndarray:
    """Run ``encode`` (e.g. ``model.encode_products``) over ``batches``; returns a C-contiguous float32 matrix."""
    from tqdm.auto import tqdm  # a notebook widget bar or a terminal bar; it warns at import outside notebooks

    module = getattr(encode, "__self__", None)
    was_training = getattr(module, "training", False)
    if module is not None:
        module.eval()
    try:
        chunks = [encode(_to_device(b, device)).float().cpu().numpy()
                  for b in tqdm(batches, desc=desc, disable=not progress, total=total, leave=False)]
    finally:
        if module is not None and was_training:
            module.train()
    if not chunks:
        raise ValueError(f"{desc}: no batches to embed")
    return np.ascontiguousarray(np.concatenate(chunks), dtype=np.float32)


def gpu_available() -> bool:
    import faiss

    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def _check(queries: np.ndarray, products: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    products = np.ascontiguousarray(products, dtype=np.float32)
    if queries.ndim != 2 or products.ndim != 2 or queries.shape[1] != products.shape[1]:
        raise ValueError(f"queries {queries.shape} and products {products.shape} must be 2-D with equal width")
    if not 0 < k <= products.shape[0]:
        raise ValueError(f"k={k} must lie in 1..{products.shape[0]} (the number of products)")
    for name, x in (("queries", queries), ("products", products)):
        # in row blocks: a whole-matrix isfinite would hold a bool copy a quarter the size of the matrix
        for a in range(0, x.shape[0], 1 << 16):
            if not np.isfinite(x[a:a + (1 << 16)]).all():
                bad = a + int(np.flatnonzero(~np.isfinite(x[a:a + (1 << 16)]).all(axis=1))[0])
                raise ValueError(f"{name} embeddings contain NaN or infinite values (first at row {bad})")
    return queries, products


def search(queries: np.ndarray, products: np.ndarray, k: int = 100, *, index: str = "flat",
           use_gpu: bool | None = None, nlist: int | None = None, nprobe: int = 16, hnsw_m: int = 32,
           ef_search: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` products by inner product (= cosine for normalised embeddings) for every query.

    Returns ``(scores [nq, k] float32, ids [nq, k] int64)``, best first; ids are row numbers of ``products``.
    ``index``: ``flat`` (exact, default), ``ivf`` (IVF-Flat, ``nlist`` cells, ``nprobe`` probed) or ``hnsw``.
    """
    import faiss

    if index not in INDEXES:
        raise ValueError(f"unknown index {index!r}; valid: {list(INDEXES)}")
    queries, products = _check(queries, products, k)
    use_gpu = gpu_available() if use_gpu is None else use_gpu
    if index == "flat":
        if use_gpu:
            res = faiss.StandardGpuResources()
            return faiss.knn_gpu(res, queries, products, k, metric=faiss.METRIC_INNER_PRODUCT)
        return faiss.knn(queries, products, k, metric=faiss.METRIC_INNER_PRODUCT)
    ann = build_index(products, index, use_gpu=use_gpu, nlist=nlist, nprobe=nprobe, hnsw_m=hnsw_m,
                      ef_search=ef_search)
    return ann.search(queries, k)


def build_index(products: np.ndarray, index: str = "ivf", *, use_gpu: bool = False, nlist: int | None = None,
                nprobe: int = 16, hnsw_m: int = 32, ef_search: int = 256):
    """An approximate FAISS index over ``products`` (inner product): ``ivf`` (IVF-Flat trained on a sample,
    ``nlist`` defaults to 4·√N) or ``hnsw``. ``index.search(queries, k)`` answers like :func:`search`."""
    import faiss

    if index not in ("ivf", "hnsw"):
        raise ValueError(f"unknown approximate index {index!r}; valid: ['ivf', 'hnsw']")
    products = np.ascontiguousarray(products, dtype=np.float32)
    d = products.shape[1]
    if index == "ivf":
        nlist = nlist or max(1, int(4 * np.sqrt(products.shape[0])))
        quantizer = faiss.IndexFlatIP(d)
        ann = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(0)
        train = products[rng.choice(products.shape[0], min(products.shape[0], 64 * nlist), replace=False)]
        ann.train(train)
        ann.nprobe = nprobe
    else:
        ann = faiss.IndexHNSWFlat(d, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        ann.hnsw.efSearch = ef_search
    if use_gpu and index == "ivf":
        ann = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, ann)
    ann.add(products)
    return ann


def chunked_torch_topk(queries: np.ndarray, products: np.ndarray, k: int = 100, *, query_chunk: int = 1024,
                       corpus_chunk: int = 100_000) -> np.ndarray:
    """Top-``k`` ids the way common IR evaluators (sentence-transformers' ``semantic_search`` and the like) get
    them: ``torch.mm`` on query × corpus chunks, ``torch.topk`` per chunk, a final ``topk`` over the survivors.
    The benchmarks' baseline against :func:`search`; not used by the experiments."""
    q_all, p_all = torch.from_numpy(queries), torch.from_numpy(products)
    out = np.empty((len(queries), k), dtype=np.int64)
    for a in range(0, len(queries), query_chunk):
        q = q_all[a:a + query_chunk]
        best_s, best_i = [], []
        for b in range(0, len(products), corpus_chunk):
            scores = q @ p_all[b:b + corpus_chunk].T
            top = torch.topk(scores, min(k, scores.shape[1]), dim=1)
            best_s.append(top.values)
            best_i.append(top.indices + b)
        top = torch.topk(torch.cat(best_s, 1), k, dim=1)
        out[a:a + query_chunk] = torch.gather(torch.cat(best_i, 1), 1, top.indices).numpy()
    return out


def brute_force_topk(queries: np.ndarray, products: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """NumPy reference for :func:`search`: full score matrix, stable sort. For tests on small arrays only."""
    scores = queries.astype(np.float64) @ products.astype(np.float64).T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, axis=1), order
