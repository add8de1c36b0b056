"""Lightning DataModules: (query, purchased product[, seen negatives]) batches, the caption corpus and the
visual-search query photos.

Text is tokenised once up front (:class:`TokenTable`) and batches gather rows of pre-tokenised arrays, so an
epoch costs array indexing, not tokenisation. Shuffling is seeded by ``(seed, epoch)`` (Lightning calls
``set_epoch``), so a run resumed from a checkpoint sees exactly the batches an uninterrupted run would.

Beside a GPU, ``num_workers`` processes assemble batches ahead of the training step and ``pin_memory`` pages them
for an asynchronous copy (:func:`loader`); the sampler stays in the main process, so the batches and their order
are the same with any number of workers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


@dataclass
class TokenTable:
    """Pre-tokenised texts: ``input_ids`` and ``attention_mask`` as int tensors, one row per text."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor

    @classmethod
    def build(cls, tokenize: Callable[[Sequence[str]], dict], texts: Sequence[str], chunk: int = 8192) -> "TokenTable":
        parts = [tokenize(list(texts[i:i + chunk])) for i in range(0, len(texts), chunk)]
        return cls(torch.cat([p["input_ids"] for p in parts]).to(torch.int32),
                   torch.cat([p["attention_mask"] for p in parts]).to(torch.int8))

    def rows(self, idx: torch.Tensor, prefix: str) -> dict[str, torch.Tensor]:
        mask = self.attention_mask[idx]
        # cut the padding shared by the whole batch: short titles and queries cost a third of max_length
        width = max(int(mask.sum(1).max()), 1) if len(idx) else mask.shape[1]
        return {f"{prefix}_input_ids": self.input_ids[idx, :width].long(),
                f"{prefix}_attention_mask": mask[:, :width].long()}


@dataclass
class FeatureStore:
    """Everything a batch may need, indexed by product row and query row.

    ``product_tokens``/``query_tokens``: BiBERT tokens; ``product_clip``/``query_clip``: frozen CLIP features
    (the SQID path, or computed once from the tiny CLIP); ``images``: raw product images for a trainable CLIP;
    ``product_features``/``query_features``: further per-row tensors by batch key (what the control rows read).
    """

    product_tokens: TokenTable
    query_tokens: TokenTable
    product_clip: torch.Tensor | None = None
    query_clip: torch.Tensor | None = None
    images: np.ndarray | None = None
    product_features: dict[str, torch.Tensor] = field(default_factory=dict)
    query_features: dict[str, torch.Tensor] = field(default_factory=dict)

    def product_batch(self, rows, prefix: str = "product") -> dict[str, torch.Tensor]:
        rows = torch.from_numpy(np.array(rows, dtype=np.int64))  # a copy: index arrays may be read-only
        out = self.product_tokens.rows(rows, prefix)
        if self.product_clip is not None:
            out[f"{prefix}_clip"] = self.product_clip[rows]
        elif self.images is not None:
            out[f"{prefix}_image"] = torch.from_numpy(np.asarray(self.images[rows.numpy()]))
        if prefix == "product":
            out.update({key: values[rows] for key, values in self.product_features.items()})
        return out

    def query_batch(self, rows) -> dict[str, torch.Tensor]:
        rows = torch.from_numpy(np.array(rows, dtype=np.int64))
        out = self.query_tokens.rows(rows, "query")
        if self.query_clip is not None:
            out["query_clip"] = self.query_clip[rows]
        out.update({key: values[rows] for key, values in self.query_features.items()})
        return out

    def product_batches(self, rows: np.ndarray, batch_size: int):
        for i in range(0, len(rows), batch_size):
            yield self.product_batch(rows[i:i + batch_size])

    def query_batches(self, rows: np.ndarray, batch_size: int):
        for i in range(0, len(rows), batch_size):
            yield self.query_batch(rows[i:i + batch_size])


def negatives_as_products(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The seen-negative part of a batch (keys ``neg_*``) renamed as products, for ``encode_products``."""
    return {"product" + k[3:]: v for k, v in batch.items() if k.startswith("neg_")}


def loader(n: int, batch_size: int, seed: int, collate, *, num_workers: int = 0,
           pin_memory: bool = False) -> DataLoader:
    """The shuffled training DataLoader of every DataModule: indices ``0..n-1`` in an :class:`EpochSeededSampler`
    order, ``collate`` turning a list of them into a batch; ``num_workers`` processes (kept across epochs) prefetch
    batches when asked."""
    workers = {"persistent_workers": True, "prefetch_factor": 4} if num_workers > 0 else {}
    return DataLoader(_Index(n), batch_size=batch_size, sampler=EpochSeededSampler(n, seed), collate_fn=collate,
                      drop_last=n > batch_size, num_workers=num_workers, pin_memory=pin_memory, **workers)


class EpochSeededSampler(Sampler[int]):
    """A shuffle that depends only on ``(seed, epoch)``."""

    def __init__(self, n: int, seed: int, shuffle: bool = True):
        self.n, self.seed, self.shuffle, self.epoch = n, seed, shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        if not self.shuffle:
            return iter(range(self.n))
        return iter(np.random.default_rng([self.seed, self.epoch]).permutation(self.n).tolist())

    def __len__(self) -> int:
        return self.n


class _Index(Dataset):
    def __init__(self, n: int):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return i


class PairCollate:
    """Turns pair indices into a batch: query rows, purchased product rows and k seen-negative slots per query.

    A query with fewer seen negatives than k leaves its other slots empty: they are filled with product row 0 so
    every batch has the same shape (which DDP's gathering needs) and marked False in ``seen_mask``, which NT-Xent
    reads to leave them out of the candidates. No product stands in for a missing seen negative."""

    def __init__(self, store: FeatureStore, query_rows: np.ndarray, product_rows: np.ndarray,
                 negatives: np.ndarray | None):
        self.store, self.query_rows, self.product_rows, self.negatives = store, query_rows, product_rows, negatives

    def __call__(self, idx: list[int]) -> dict[str, torch.Tensor]:
        idx = np.asarray(idx)
        batch = {**self.store.query_batch(self.query_rows[idx]), **self.store.product_batch(self.product_rows[idx])}
        if self.negatives is not None:
            neg = self.negatives[idx]
            batch.update(self.store.product_batch(np.maximum(neg, 0).ravel(), prefix="neg"))
            batch["seen_mask"] = torch.from_numpy((neg >= 0).ravel())
        return batch


def seen_negative_matrix(seen: pd.DataFrame, query_row: pd.Series, k: int) -> np.ndarray:
    """``[n_query_rows, k]`` product rows of each query's seen negatives (``-1`` where it has fewer)."""
    out = np.full((len(query_row), k), -1, dtype=np.int64)
    if k == 0 or len(seen) == 0:
        return out
    seen = seen[seen["query_id"].isin(query_row.index)]
    rows = query_row.loc[seen["query_id"]].to_numpy()
    rank = seen.groupby("query_id").cumcount().to_numpy()
    keep = rank < k
    out[rows[keep], rank[keep]] = seen["product_id"].to_numpy()[keep]
    return out


class PairsDataModule(pl.LightningDataModule):
    """Train-period (query, purchased product) pairs, with a held-out slice of train-period queries for
    validation (early stopping and the α of α-concat; the eval period is never used for choices)."""

    def __init__(self, catalog, store: FeatureStore, *, batch_size: int = 128, seen_negatives: int = 0,
                 val_fraction: float = 0.1, seed: int = 0, num_workers: int = 0, pin_memory: bool = False):
        super().__init__()
        self.catalog, self.store = catalog, store
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.batch_size, self.k, self.seed = batch_size, seen_negatives, seed
        queries = catalog.queries
        self.query_row = pd.Series(np.arange(len(queries)), index=queries["query_id"].to_numpy())
        train = catalog.purchases[catalog.purchases["split"] == "train"]
        train_queries = np.sort(train["query_id"].unique())
        rng = np.random.default_rng(seed)
        n_val = int(round(val_fraction * len(train_queries)))
        self.val_query_ids = np.sort(rng.choice(train_queries, n_val, replace=False)) if n_val else np.empty(0, int)
        self.val_pairs = train[train["query_id"].isin(self.val_query_ids)].reset_index(drop=True)
        self.train_pairs = train[~train["query_id"].isin(self.val_query_ids)].reset_index(drop=True)
        if len(self.train_pairs) == 0:  # Lightning would otherwise fail deep inside its fit loop
            raise ValueError(f"no train-period purchases to train on: the catalog has {len(train)} train-period "
                             f"pairs over {len(train_queries)} queries, {n_val} of them held out for validation")
        self.negatives = seen_negative_matrix(catalog.seen_negatives, self.query_row, seen_negatives) \
            if seen_negatives else None

    def _collate(self, pairs: pd.DataFrame) -> PairCollate:
        qrows = self.query_row.loc[pairs["query_id"]].to_numpy()
        negs = self.negatives[qrows] if self.negatives is not None else None
        return PairCollate(self.store, qrows, pairs["product_id"].to_numpy(), negs)

    def train_dataloader(self):
        return loader(len(self.train_pairs), self.batch_size, self.seed, self._collate(self.train_pairs),
                      num_workers=self.num_workers, pin_memory=self.pin_memory)

    def val_query_rows(self) -> np.ndarray:
        return self.query_row.loc[self.val_query_ids].to_numpy()


class CaptionDataModule(pl.LightningDataModule):
    """The generic image-caption corpus: batches of (uint8 image, open_clip tokens) for stage 0."""

    def __init__(self, images: np.ndarray, tokens: torch.Tensor, batch_size: int = 256, seed: int = 0,
                 num_workers: int = 0, pin_memory: bool = False):
        super().__init__()
        self.images, self.tokens, self.batch_size, self.seed = images, tokens, batch_size, seed
        self.num_workers, self.pin_memory = num_workers, pin_memory

    def _collate(self, idx):
        idx = np.asarray(idx)
        return {"image": torch.from_numpy(np.asarray(self.images[idx])), "text": self.tokens[idx]}

    def train_dataloader(self):
        return loader(len(self.tokens), self.batch_size, self.seed, self._collate, num_workers=self.num_workers,
                      pin_memory=self.pin_memory)


class PhotoDataModule(pl.LightningDataModule):
    """Visual-search training pairs from the world's training photos: (query photo, photographed product's
    image, its title's open_clip tokens, the photo's short text query's tokens)."""

    def __init__(self, photo_images: np.ndarray, product_images: np.ndarray, product_ids: np.ndarray,
                 title_tokens: torch.Tensor, query_tokens: torch.Tensor | None = None,
                 photo_rows: np.ndarray | None = None, batch_size: int = 128, seed: int = 0,
                 num_workers: int = 0, pin_memory: bool = False):
        super().__init__()
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.photo_images, self.product_images = photo_images, product_images
        self.product_ids, self.title_tokens, self.query_tokens = product_ids, title_tokens, query_tokens
        self.photo_rows = np.arange(len(product_ids)) if photo_rows is None else np.asarray(photo_rows)
        self.batch_size, self.seed = batch_size, seed

    def _collate(self, idx):
        rows = self.photo_rows[np.asarray(idx)]
        pid = self.product_ids[rows]
        batch = {"query_image": torch.from_numpy(np.asarray(self.photo_images[rows])),
                 "product_image": torch.from_numpy(np.asarray(self.product_images[pid])),
                 "product_text": self.title_tokens[pid]}
        if self.query_tokens is not None:
            batch["query_text"] = self.query_tokens[rows]
        return batch

    def train_dataloader(self):
        return loader(len(self.photo_rows), self.batch_size, self.seed, self._collate, num_workers=self.num_workers,
                      pin_memory=self.pin_memory)


class DistinctProductBatches(Sampler):
    """Batches in which no product appears twice, for in-batch negatives on a small catalog.

    With 81 products and batches of 64 photos drawn at random, most batches would hold two photos of one product,
    and NT-Xent would push each away from its own product's image as a "negative". So each batch draws
    ``batch_size`` distinct products — with probability proportional to their photos among ``rows``, without
    replacement, so every photo is about equally likely to be seen — and one photo of each. An epoch is
    ``len(rows) // batch_size`` batches. Every draw depends only on ``(seed, epoch)`` (Lightning calls
    ``set_epoch``); each item is ``(epoch, batch number, photo rows)``, so a dataset can seed the batch's
    augmentation from it."""

    def __init__(self, rows: np.ndarray, product_of_row: np.ndarray, batch_size: int, seed: int = 0):
        self.rows = np.asarray(rows)
        products = np.asarray(product_of_row)[self.rows]
        self.products, inverse = np.unique(products, return_inverse=True)
        self.members = [self.rows[inverse == i] for i in range(len(self.products))]
        counts = np.array([len(m) for m in self.members], dtype=float)
        self.p = counts / counts.sum()
        self.batch_size = min(batch_size, len(self.products))
        if self.batch_size < 2:
            raise ValueError(f"in-batch negatives need at least 2 distinct products; the rows hold "
                             f"{len(self.products)}")
        self.n_batches = max(1, len(self.rows) // self.batch_size)
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        for b in range(self.n_batches):
            chosen = rng.choice(len(self.products), size=self.batch_size, replace=False, p=self.p)
            yield self.epoch, b, np.array([self.members[i][rng.integers(len(self.members[i]))] for i in chosen])

    def __len__(self) -> int:
        return self.n_batches


def _whole_batch(batch):
    """The collate step of a dataset whose items are whole batches: nothing to do."""
    return batch


class _PhotoPairBatches(Dataset):
    """A whole batch per item: (augmented photo, its product's catalog image, its title's tokens)."""

    def __init__(self, module: "RealPhotoDataModule"):
        self.m = module

    def __len__(self):
        return self.m.sampler.n_batches

    def __getitem__(self, item):
        epoch, b, rows = item
        m = self.m
        photos = torch.from_numpy(np.ascontiguousarray(m.photo_images[rows]))
        if m.augment is not None:
            photos = m.augment(photos, torch.Generator().manual_seed(int(np.random.SeedSequence(
                [m.seed, epoch, b]).generate_state(1)[0])))
        pid = m.product_ids[rows]
        batch = {"query_image": photos, "product_image": torch.from_numpy(np.ascontiguousarray(m.product_images[pid]))}
        if m.title_tokens is not None:
            batch["product_text"] = m.title_tokens[pid]
        return batch


class RealPhotoDataModule(pl.LightningDataModule):
    """Visual-search training pairs from real photos (the Grocery Store dataset): each photo with its product's
    catalog image and title tokens, in batches of distinct products (:class:`DistinctProductBatches`), each photo
    augmented (``augment``, e.g. :class:`~mmpaper.data.augment.PhoneAugment`) with a stream seeded by (seed,
    epoch, batch)."""

    def __init__(self, photo_images: np.ndarray, product_images: np.ndarray, product_ids: np.ndarray,
                 photo_rows: np.ndarray, title_tokens: torch.Tensor | None = None, *, augment=None,
                 batch_size: int = 64, seed: int = 0):
        super().__init__()
        self.photo_images, self.product_images = photo_images, product_images
        self.product_ids, self.title_tokens, self.augment, self.seed = np.asarray(product_ids), title_tokens, \
            augment, seed
        self.sampler = DistinctProductBatches(photo_rows, self.product_ids, batch_size, seed)

    def train_dataloader(self):
        # batch_size=None: the sampler yields whole batches; Lightning calls its set_epoch
        return DataLoader(_PhotoPairBatches(self), sampler=self.sampler, batch_size=None, collate_fn=_whole_batch)
