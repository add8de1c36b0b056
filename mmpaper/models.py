"""The retrieval models of the main paper, each a plain ``nn.Module`` with one interface.

``encode_queries(batch)`` and ``encode_products(batch)`` return L2-normalised float32 embeddings, so the score is a
cosine (§2.1) and FAISS inner-product search is exact cosine search. A batch is a dict of tensors:

============================== ==========================================================================
``query_input_ids/_mask``       BiBERT WordPiece tokens of the query text ``q``
``query_clip_tokens``           open_clip tokens of ``q`` for ``g_t`` ...
``query_clip``                  ... or precomputed, frozen ``g_t(q)`` features (the SQID path)
``product_input_ids/_mask``     BiBERT tokens of the product title ``d_text``
``product_image``               uint8 ``[N, H, W, 3]`` product image ``d_image`` for ``g_i`` ...
``product_clip``                ... or precomputed ``g_i(d_image)`` features
============================== ==========================================================================

Which parts learn is set with ``set_trainable(bibert=..., clip=..., fusion=...)``: a frozen part gets no gradient
and stays in eval mode (no dropout) even while the model trains — the paper's "tune BiBERT" / "train MLP" switches.
"""
from __future__ import annotations

from typing import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from .fusion import build_fusion
from .towers import BiBERT, CLIPTowers

Batch = Mapping[str, torch.Tensor]


class RetrievalModel(nn.Module):
    """Base class: trainable-part switches and the two encoders."""

    parts: tuple[str, ...] = ()

    def __init__(self):
        super().__init__()
        self._frozen: set[str] = set()

    def set_trainable(self, **flags: bool) -> "RetrievalModel":
        for name, trainable in flags.items():
            if name not in self.parts:
                raise ValueError(f"{type(self).__name__} has no part {name!r}; parts: {list(self.parts)}")
            for p in getattr(self, name).parameters():
                p.requires_grad_(bool(trainable))
            (self._frozen.discard if trainable else self._frozen.add)(name)
        return self.train(self.training)

    @property
    def trainable_parts(self) -> list[str]:
        return [p for p in self.parts if p not in self._frozen]

    def train(self, mode: bool = True) -> "RetrievalModel":
        super().train(mode)
        for name in self._frozen:
            getattr(self, name).eval()
        return self

    def encode_queries(self, batch: Batch) -> torch.Tensor:
        return F.normalize(self._query(batch).float(), dim=-1)

    def encode_products(self, batch: Batch) -> torch.Tensor:
        return F.normalize(self._product(batch).float(), dim=-1)

    def _query(self, batch: Batch) -> torch.Tensor:
        raise NotImplementedError

    def _product(self, batch: Batch) -> torch.Tensor:
        raise NotImplementedError


def _bibert_query(bibert: BiBERT, batch: Batch) -> torch.Tensor:
    return bibert.encode_query(batch["query_input_ids"], batch["query_attention_mask"])


def _bibert_product(bibert: BiBERT, batch: Batch) -> torch.Tensor:
    return bibert.encode_product(batch["product_input_ids"], batch["product_attention_mask"])


def _clip_text(clip: CLIPTowers | None, batch: Batch) -> torch.Tensor:
    if "query_clip" in batch:
        return batch["query_clip"]
    if clip is None:
        raise KeyError("batch has no 'query_clip' features and the model holds no CLIP text tower")
    return clip.encode_text(batch["query_clip_tokens"])


def _clip_image(clip: CLIPTowers | None, batch: Batch) -> torch.Tensor:
    if "product_clip" in batch:
        return batch["product_clip"]
    if clip is None:
        raise KeyError("batch has no 'product_clip' features and the model holds no CLIP image tower")
    return clip.encode_image(batch["product_image"])


class BiBERTRetriever(RetrievalModel):
    """The text-only baseline: ``e_q = f_q(q)``, ``e_d = f_d(d_text)``."""

    parts = ("bibert",)

    def __init__(self, bibert: BiBERT):
        super().__init__()
        self.bibert = bibert

    def _query(self, batch):
        return _bibert_query(self.bibert, batch)

    def _product(self, batch):
        return _bibert_product(self.bibert, batch)


class CLIPRetriever(RetrievalModel):
    """Zero-shot CLIP: ``e_q = g_t(q)``, ``e_d = g_i(d_image)``."""

    parts = ("clip",)

    def __init__(self, clip: CLIPTowers | None):
        super().__init__()
        self.clip = clip if clip is not None else nn.Identity()  # None: features come precomputed in the batch

    def _clip(self):
        return self.clip if isinstance(self.clip, CLIPTowers) else None

    def _query(self, batch):
        return _clip_text(self._clip(), batch)

    def _product(self, batch):
        return _clip_image(self._clip(), batch)


class FourTowerMM(RetrievalModel):
    """4tMM, Eq. 2: ``e_q = F_q(f_q(q), g_t(q))``, ``e_d = F_d(f_d(d_text), g_i(d_image))``."""

    parts = ("bibert", "clip", "fusion")

    def __init__(self, bibert: BiBERT, clip: CLIPTowers | None, fusion: str = "cat", *, clip_dim: int | None = None,
                 alpha: float = 0.5, out_dim: int = 128, hidden_dim: int | None = None):
        super().__init__()
        self.bibert = bibert
        self.clip = clip if clip is not None else nn.Identity()
        clip_dim = clip_dim or clip.embed_dim
        dims = (bibert.embed_dim, clip_dim)
        self.fusion = nn.ModuleDict({side: build_fusion(fusion, dims, alpha=alpha, out_dim=out_dim,
                                                        hidden_dim=hidden_dim) for side in ("query", "product")})

    def _clip(self):
        return self.clip if isinstance(self.clip, CLIPTowers) else None

    def _query(self, batch):
        return self.fusion["query"](_bibert_query(self.bibert, batch), _clip_text(self._clip(), batch))

    def _product(self, batch):
        return self.fusion["product"](_bibert_product(self.bibert, batch), _clip_image(self._clip(), batch))


class ThreeTowerMM(RetrievalModel):
    """3tMM, Eq. 5: ``e_q = F_q(f_q(q))``, ``e_d = F_d(f_d(d_text), g_i(d_image))`` — no CLIP text tower, so
    the MLPs alone must align CLIP's image space with BiBERT's text space."""

    parts = ("bibert", "clip", "fusion")

    def __init__(self, bibert: BiBERT, clip: CLIPTowers | None, *, clip_dim: int | None = None, out_dim: int = 128,
                 hidden_dim: int | None = None):
        super().__init__()
        self.bibert = bibert
        self.clip = clip if clip is not None else nn.Identity()
        clip_dim = clip_dim or clip.embed_dim
        self.fusion = nn.ModuleDict({
            "query": build_fusion("mlp", (bibert.embed_dim,), out_dim=out_dim, hidden_dim=hidden_dim),
            "product": build_fusion("mlp", (bibert.embed_dim, clip_dim), out_dim=out_dim, hidden_dim=hidden_dim),
        })

    def _clip(self):
        return self.clip if isinstance(self.clip, CLIPTowers) else None

    def _query(self, batch):
        return self.fusion["query"](_bibert_query(self.bibert, batch))

    def _product(self, batch):
        return self.fusion["product"](_bibert_product(self.bibert, batch), _clip_image(self._clip(), batch))
