"""One evaluator per task (§4.2; in the spirit of sentence-transformers' ``InformationRetrievalEvaluator``): built
from the eval data, called with a model. The same object runs inside training (validation recall for early
stopping and α) and on its own (the final evaluation), so "embed → search → metrics" is written once.

* :class:`RetrievalEvaluator`: embed every product and every query of a set, exact top-k
  (:func:`mmpaper.retrieval.search`), purchase recall@k and, given a labeller, the label precision of Table 2.
* :class:`VisualSearchEvaluator`: every query photo against every product image (KDD 2024): recall@k of the
  photographed product, precision and false positives in the top ``k_precision``, distractor wins.
* :class:`RealPhotoEvaluator`: real photos (the Grocery Store dataset) against the catalog images: recall@k of the
  photographed product and the fine and gross false positives among the top k.
"""
from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .metrics import (distractor_preferred, label_precision, real_photo_metrics, real_photo_per_photo, recall_at_k,
                      visual_search_metrics)
from .retrieval import embed, search

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def on_device(model, device):
    """``model`` on ``device`` for the duration, then back where it was (Lightning hands a trained model back on
    the CPU; embedding a catalog belongs where it trained). Nothing moves when it is already there."""
    first = next(iter(model.parameters()), None) if isinstance(model, torch.nn.Module) else None
    before = first.device if first is not None else None
    move = before is not None and before != torch.device(device)
    if move:
        model.to(device)
    try:
        yield model
    finally:
        if move:
            model.to(before)


@dataclass
class Evaluation:
    """What one call of :class:`RetrievalEvaluator` found: the top-k product rows of every query (in the
    evaluator's query order), the purchase recall@k and, when the evaluator has a labeller, the labels of the
    top-k slots and the flat metrics of Table 2 (``recall``, ``E``, ``S``, ``C``, ``I``, ...)."""

    topk: np.ndarray
    recall: float
    labels: np.ndarray | None
    metrics: dict


class RetrievalEvaluator:
    """Purchase recall@k (and label precision) of any retrieval model on a fixed set of queries.

    Args:
        store: the :class:`~mmpaper.data.modules.FeatureStore` that batches products and queries.
        query_rows: rows of ``store``'s query table to evaluate, in the order of the result.
        purchase_rows, purchase_products: the purchases as ``(position in query_rows, product row)`` pairs.
        k: the depth of the top-k (capped at the number of products).
        batch_size: embedding batch size (it changes no number: the towers are evaluated in eval mode).
        labeller: ``topk -> labels`` (``[n, k]`` label codes), for label precision; None for recall only.
        use_gpu: exact search on a GPU (None: when present; False: on the CPU; :func:`~mmpaper.retrieval.search`).
        device: where the model embeds (a call's ``device`` overrides it); dtype: autocast dtype of embedding (bf16
        or fp16; None for float32). progress: progress bars. name: what the bars say.
    """

    def __init__(self, store, query_rows: np.ndarray, purchase_rows: np.ndarray, purchase_products: np.ndarray,
                 *, k: int = 100, batch_size: int = 1024, labeller: Callable[[np.ndarray], np.ndarray] | None = None,
                 use_gpu: bool | None = None, progress: bool = False, name: str = "eval",
                 device: str | torch.device = "cpu", dtype: torch.dtype | None = None):
        self.store, self.query_rows = store, np.asarray(query_rows)
        self.purchase_rows, self.purchase_products = np.asarray(purchase_rows), np.asarray(purchase_products)
        self.k, self.batch_size, self.labeller = k, batch_size, labeller
        self.use_gpu, self.progress, self.name = use_gpu, progress, name
        self.device, self.dtype = torch.device(device), dtype

    @property
    def n_products(self) -> int:
        return len(self.store.product_tokens.input_ids)

    def search(self, model, device: str | torch.device | None = None) -> np.ndarray:
        """Embed every product and every query with ``model`` and return the exact top-k product rows."""
        device = torch.device(device) if device is not None else self.device
        with on_device(model, device):
            products = embed(model.encode_products,
                             self.store.product_batches(np.arange(self.n_products), self.batch_size),
                             device=device, desc="products", progress=self.progress, dtype=self.dtype)
            queries = embed(model.encode_queries, self.store.query_batches(self.query_rows, self.batch_size),
                            device=device, desc="queries", progress=self.progress, dtype=self.dtype)
        _, topk = search(queries, products, min(self.k, len(products)), use_gpu=self.use_gpu)
        return topk

    def __call__(self, model, device: str | torch.device | None = None) -> Evaluation:
        t0 = time.perf_counter()
        topk = self.search(model, device)
        recall = recall_at_k(topk, self.purchase_rows, self.purchase_products)
        metrics = {"recall": recall}
        labels = None
        if self.labeller is not None:
            labels = self.labeller(topk)
            metrics.update(label_precision(labels).as_dict())
        metrics.update({"n_queries": int(len(self.query_rows)), "n_products": int(self.n_products),
                        "k": int(topk.shape[1]), "eval_seconds": time.perf_counter() - t0})
        logger.debug("%s: recall@%d %.4f over %d queries", self.name, topk.shape[1], recall, len(self.query_rows))
        return Evaluation(topk, recall, labels, metrics)


@dataclass
class VisualEvaluation:
    topk: np.ndarray
    preferred: np.ndarray   # per photo: 1 the distractor outscored the product, 0 not, -1 no distractor
    metrics: dict


class VisualSearchEvaluator:
    """Query photos against product images (KDD 2024): FAISS exact top-k, recall@k of the photographed product,
    precision and false-positive rate in the top ``k_precision``, and how often the distractor wins.

    ``photo_images`` / ``product_images``: uint8 arrays ``[N, S, S, 3]``; ``photo_rows``: the eval photos;
    ``query_tokens``: open_clip tokens of every photo's short text (the 4-tower's query text); ``target`` and
    ``distractor``: product rows per eval photo; ``attributes``: ``[n_products, 3]`` (category, colour, pattern).
    ``device``, ``dtype`` and ``use_gpu`` as for :class:`RetrievalEvaluator`."""

    def __init__(self, product_images, photo_images, photo_rows: np.ndarray, query_tokens: torch.Tensor,
                 target: np.ndarray, distractor: np.ndarray, attributes: np.ndarray, *, k: int = 100,
                 k_precision: int = 10, batch_size: int = 512, progress: bool = False,
                 device: str | torch.device = "cpu", dtype: torch.dtype | None = None, use_gpu: bool | None = None):
        self.product_images, self.photo_images = product_images, photo_images
        self.photo_rows, self.query_tokens = np.asarray(photo_rows), query_tokens
        self.target, self.distractor, self.attributes = np.asarray(target), np.asarray(distractor), attributes
        self.k, self.k_precision, self.batch_size, self.progress = k, k_precision, batch_size, progress
        self.device, self.dtype, self.use_gpu = torch.device(device), dtype, use_gpu

    def __call__(self, model) -> VisualEvaluation:
        t0 = time.perf_counter()
        bs, rows, device = self.batch_size, self.photo_rows, self.device
        with on_device(model, device):
            products = embed(model.encode_products,
                             ({"product_image": torch.from_numpy(np.array(self.product_images[i:i + bs]))}
                              for i in range(0, len(self.product_images), bs)), desc="product images",
                             progress=self.progress, device=device, dtype=self.dtype)
            queries = embed(model.encode_queries,
                            ({"query_image": torch.from_numpy(np.asarray(self.photo_images[rows[i:i + bs]])),
                              "query_text": self.query_tokens[rows[i:i + bs]]} for i in range(0, len(rows), bs)),
                            desc="query photos", progress=self.progress, device=device, dtype=self.dtype)
        _, topk = search(queries, products, min(self.k, len(products)), use_gpu=self.use_gpu)
        metrics = visual_search_metrics(topk, self.target, self.attributes, k_precision=self.k_precision)
        metrics["distractor_preferred"] = distractor_preferred(queries, products, self.target, self.distractor)
        # per photo (1 preferred, 0 not, -1 no distractor): the claims' paired statistics resample photos
        preferred = distractor_preferred(queries, products, self.target, self.distractor, per_photo=True)
        metrics.update({"n_photos": int(len(rows)), "n_products": int(len(products)), "k": int(topk.shape[1]),
                        "eval_seconds": time.perf_counter() - t0})
        return VisualEvaluation(topk, preferred, metrics)


@dataclass
class RealPhotoEvaluation:
    topk: np.ndarray                    # [n_photos, k_search] product rows, best first
    per_photo: dict[str, np.ndarray]    # metrics.real_photo_per_photo: recall@k, fine@k, gross@k per photo
    metrics: dict                       # flat: recall@k, fine_fp@k, gross_fp@k, counts, seconds

    @property
    def primary(self) -> float:
        """Recall@1 of the photographed product: what validation chooses the epoch by."""
        return self.metrics["recall@1"]


class RealPhotoEvaluator:
    """Real query photos against the catalog images (the Grocery Store dataset): embed every catalog image and
    every photo (``model.encode_products`` / ``encode_queries``), exact top-``k_search`` search, then recall@k of
    the photographed product and the fine / gross false-positive rates at k (:mod:`mmpaper.metrics`).

    ``product_images`` ``[n_products, S, S, 3]`` and ``photo_images`` ``[n_photos, S, S, 3]`` (uint8, the photos to
    evaluate), ``target``: each photo's product row, ``coarse``: each product's coarse class. The same object
    validates every epoch (on val photos) and gives the final numbers (on test photos)."""

    def __init__(self, product_images: np.ndarray, photo_images: np.ndarray, target: np.ndarray,
                 coarse: np.ndarray, *, ks: tuple[int, ...] = (1, 5), k_search: int = 10, batch_size: int = 256,
                 progress: bool = False, name: str = "eval"):
        if len(photo_images) != len(target):
            raise ValueError(f"{name}: {len(photo_images)} photos but {len(target)} targets")
        self.product_images, self.photo_images = product_images, photo_images
        self.target, self.coarse = np.asarray(target), np.asarray(coarse)
        self.ks, self.batch_size, self.progress, self.name = tuple(ks), batch_size, progress, name
        self.k_search = min(max(k_search, *self.ks), len(product_images))

    def search(self, model, device: str | torch.device = "cpu") -> np.ndarray:
        bs = self.batch_size
        products = embed(model.encode_products,
                         ({"product_image": torch.from_numpy(np.ascontiguousarray(self.product_images[i:i + bs]))}
                          for i in range(0, len(self.product_images), bs)), device=device, desc="catalog images",
                         progress=self.progress)
        queries = embed(model.encode_queries,
                        ({"query_image": torch.from_numpy(np.ascontiguousarray(self.photo_images[i:i + bs]))}
                         for i in range(0, len(self.photo_images), bs)), device=device, desc=f"{self.name} photos",
                        progress=self.progress)
        return search(queries, products, self.k_search, use_gpu=False)[1]

    def __call__(self, model, device: str | torch.device = "cpu") -> RealPhotoEvaluation:
        t0 = time.perf_counter()
        topk = self.search(model, device)
        per_photo = real_photo_per_photo(topk, self.target, self.coarse, self.ks)
        metrics = real_photo_metrics(topk, self.target, self.coarse, self.ks)
        metrics.update({"n_photos": int(len(self.target)), "n_products": int(len(self.product_images)),
                        "eval_seconds": time.perf_counter() - t0})
        logger.debug("%s: recall@1 %.4f over %d photos", self.name, metrics["recall@1"], len(self.target))
        return RealPhotoEvaluation(topk, per_photo, metrics)
