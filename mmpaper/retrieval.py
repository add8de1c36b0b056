"""Retrieval (§4.2 steps i–ii): embed every query and product, then FAISS kNN top-k.

"Embed" and "score" are kept apart: :func:`embed` turns batches into a float32 matrix, :func:`search` turns two
matrices into ``(scores, ids)``. Exact search has three engines, picked by :func:`exact_engine`:

* ``faiss-gpu``: ``faiss.knn_gpu``, when faiss-gpu is installed and sees a GPU;
* ``torch``: chunked ``torch`` matmul + ``topk`` on a CUDA device (:func:`torch_search`), when a GPU is present
  and faiss-gpu is not (its wheels need the CUDA 12 runtime wheels; Colab may not have it). At paper scale
  (38,268 × 3,384,067, d = 256) it took 2.96 s on one H200, against about 327 s for faiss-cpu on 16 threads;
* ``faiss``: ``faiss.knn`` on the CPU, on the arrays themselves, so no copy of the product matrix is made (memory
  stays at the embedding matrix plus FAISS's fixed-size blocks).

All three return the exact top-k (the tests hold the torch engine to FAISS and to brute force; among tied scores
any of the tied products may be returned). IVF and HNSW are the approximate options.
"""
from __future__ import annotations

from typing import Callable, Iterable, Mapping

import contextlib

import numpy as np
import torch

INDEXES = ("flat", "ivf", "hnsw")
ENGINES = ("faiss-gpu", "torch", "faiss")


def _to_device(batch: Mapping[str, torch.Tensor], device) -> dict:
    return {k: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}


def autocast(device: str | torch.device, dtype: torch.dtype | None):
    """``torch.autocast`` on ``device`` in ``dtype`` (bf16 or fp16), or nothing when ``dtype`` is None: the mixed
    precision a preset trains in, for the forward passes that embed a catalog."""
    device = torch.device(device)
    if dtype is None or dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


@torch.no_grad()
def embed(encode: Callable[[Mapping[str, torch.Tensor]], torch.Tensor], batches: Iterable[Mapping],
          *, device: str | torch.device = "cpu", desc: str = "embedding", progress: bool = True,
          total: int | None = None, dtype: torch.dtype | None = None) -> np.ndarray:
    """Run ``encode`` (e.g. ``model.encode_products``) over ``batches`` on ``device`` (in autocast ``dtype`` when
    given: bf16 or fp16); returns a C-contiguous float32 matrix."""
    from tqdm.auto import tqdm  # a notebook widget bar or a terminal bar; it warns at import outside notebooks

    module = getattr(encode, "__self__", None)
    was_training = getattr(module, "training", False)
    if module is not None:
        module.eval()
    try:
        with autocast(device, dtype):
            # each batch's result stays on the device until the end: a copy to the host per batch would make the
            # host wait for the device after every batch
            chunks = [encode(_to_device(b, device)).float()
                      for b in tqdm(batches, desc=desc, disable=not progress, total=total, leave=False)]
        chunks = [c.cpu().numpy() for c in chunks]
    finally:
        if module is not None and was_training:
            module.train()
    if not chunks:
        raise ValueError(f"{desc}: no batches to embed")
    return np.ascontiguousarray(np.concatenate(chunks), dtype=np.float32)


def gpu_available() -> bool:
    """Whether faiss-gpu is installed and sees a GPU."""
    import faiss

    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def exact_engine(use_gpu: bool | None = None) -> str:
    """The engine of exact search: ``faiss-gpu`` when installed with a GPU, else ``torch`` on a CUDA device, else
    ``faiss`` (CPU). ``use_gpu=False`` asks for the CPU; ``True`` for a GPU (an error when there is none)."""
    if use_gpu is False:
        return "faiss"
    if gpu_available():
        return "faiss-gpu"
    if torch.cuda.is_available():
        return "torch"
    if use_gpu:
        raise ValueError("use_gpu=True, but there is no GPU: neither faiss-gpu nor torch sees a CUDA device")
    return "faiss"


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
           use_gpu: bool | None = None, engine: str | None = None, nlist: int | None = None, nprobe: int = 16,
           hnsw_m: int = 32, ef_search: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` products by inner product (= cosine for normalised embeddings) for every query.

    Returns ``(scores [nq, k] float32, ids [nq, k] int64)``, best first; ids are row numbers of ``products``.
    ``index``: ``flat`` (exact, default), ``ivf`` (IVF-Flat, ``nlist`` cells, ``nprobe`` probed) or ``hnsw``.
    ``use_gpu``: None picks the engine by what is present (:func:`exact_engine`), False keeps the search on the
    CPU, True asks for a GPU; ``engine`` names one outright (``faiss-gpu``, ``torch``, ``faiss``).
    """
    import faiss

    if index not in INDEXES:
        raise ValueError(f"unknown index {index!r}; valid: {list(INDEXES)}")
    if engine is not None and engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; valid: {list(ENGINES)}")
    queries, products = _check(queries, products, k)
    engine = engine or exact_engine(use_gpu)
    if index == "flat":
        if engine == "faiss-gpu":
            res = faiss.StandardGpuResources()
            return faiss.knn_gpu(res, queries, products, k, metric=faiss.METRIC_INNER_PRODUCT)
        if engine == "torch":
            return torch_search(queries, products, k, device="cuda" if torch.cuda.is_available() else "cpu")
        return faiss.knn(queries, products, k, metric=faiss.METRIC_INNER_PRODUCT)
    ann = build_index(products, index, use_gpu=engine == "faiss-gpu", nlist=nlist, nprobe=nprobe, hnsw_m=hnsw_m,
                      ef_search=ef_search)
    return ann.search(queries, k)


@contextlib.contextmanager
def _full_fp32_matmul():
    """float32 matmuls in full float32 for the duration: a preset may allow TF32 (10-bit mantissas) for
    training, which would make an "exact" top-k approximate."""
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


@torch.no_grad()
def torch_search(queries: np.ndarray, products: np.ndarray, k: int = 100, *, device: str | torch.device = "cuda",
                 block_elements: int = 1 << 28) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` by inner product with ``torch`` on ``device``: the products are copied to the device once,
    then for each block of queries, float32 ``matmul`` against blocks of products, ``topk`` per block and a
    running ``topk`` over the survivors. A score block holds at most ``block_elements`` floats (1 GiB by
    default). Returns what :func:`search` returns; among equal scores, lower product rows come first."""
    device = torch.device(device)
    queries, products = _check(queries, products, k)
    nq, n_products = len(queries), len(products)
    corpus_chunk = min(n_products, max(k, block_elements // 1024))
    query_chunk = max(1, min(nq, block_elements // corpus_chunk))
    scores_out = np.empty((nq, k), dtype=np.float32)
    ids_out = np.empty((nq, k), dtype=np.int64)
    with _full_fp32_matmul():
        p_all = torch.from_numpy(products).to(device)
        for a in range(0, nq, query_chunk):
            q = torch.from_numpy(queries[a:a + query_chunk]).to(device)
            best_s = best_i = None
            for b in range(0, n_products, corpus_chunk):
                s = q @ p_all[b:b + corpus_chunk].T
                top_s, top_i = torch.topk(s, min(k, s.shape[1]), dim=1)
                top_i += b
                if best_s is not None:
                    top_s, top_i = torch.cat([best_s, top_s], 1), torch.cat([best_i, top_i], 1)
                    keep = torch.topk(top_s, k, dim=1).indices
                    top_s, top_i = torch.gather(top_s, 1, keep), torch.gather(top_i, 1, keep)
                best_s, best_i = top_s, top_i
            # best first, ties by product row: sort by row, then a stable sort by score
            by_row = torch.argsort(best_i, dim=1)
            best_s, best_i = torch.gather(best_s, 1, by_row), torch.gather(best_i, 1, by_row)
            order = torch.sort(best_s, dim=1, descending=True, stable=True).indices
            scores_out[a:a + len(q)] = torch.gather(best_s, 1, order).cpu().numpy()
            ids_out[a:a + len(q)] = torch.gather(best_i, 1, order).cpu().numpy()
    return scores_out, ids_out


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
