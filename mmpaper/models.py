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


# ------------------------------------------------------------------------------------ visual search (KDD 2024)
class VisualSearchModel(RetrievalModel):
    """The visual-search towers of Zhu et al. (KDD 2024), every encoder an open_clip tower started from the same
    vision-language pretrained CLIP (the paper's point: bring that pretraining into metric learning).

    * ``img2img``: query-photo encoder and product-image encoder, ``e_q = h_q(q_img)``, ``e_d = h_d(d_img)``.
    * ``3tower``: adds a product-text encoder ``h_t(d_title)`` used only by the alignment losses at training
      time; retrieval stays image to image.
    * ``4tower``: the query also carries a short text ``q_text`` with a fourth encoder ``h_s``; the fused query is
      ``e_q = normalise(h_q(q_img) + w · h_s(q_text))`` with a learnt weight ``w``.

    Batch keys: ``query_image`` / ``product_image`` (uint8 ``[N, H, W, 3]``), ``product_text`` and ``query_text``
    (open_clip tokens). Products are always embedded from their image alone, so all three models search the same
    image gallery.
    """

    KINDS = ("img2img", "3tower", "4tower")

    def __init__(self, clip: CLIPTowers, kind: str = "3tower"):
        super().__init__()
        import copy

        if kind not in self.KINDS:
            raise ValueError(f"unknown visual-search model {kind!r}; valid: {list(self.KINDS)}")
        self.kind = kind
        self.parts = ("query_image", "product_image") + (("product_text",) if kind != "img2img" else ()) + \
            (("query_text", "fusion") if kind == "4tower" else ())
        self.query_image = copy.deepcopy(clip)
        self.product_image = copy.deepcopy(clip)
        if kind != "img2img":
            self.product_text = copy.deepcopy(clip)
        if kind == "4tower":
            self.query_text = copy.deepcopy(clip)
            self.fusion = nn.ParameterDict({"text_weight": nn.Parameter(torch.ones(()))})
        self.set_trainable(**{part: True for part in self.parts})  # the pretrained CLIP may arrive frozen

    def set_trainable(self, **flags: bool) -> "VisualSearchModel":
        super().set_trainable(**flags)
        for part, trainable in flags.items():
            if trainable and part != "fusion":  # a tower learns its own half of CLIP only (unused weights stay
                image = part in ("query_image", "product_image")  # out of the optimiser and of DDP's reducer)
                for pname, p in getattr(self, part).model.named_parameters():
                    p.requires_grad_(pname.startswith("visual.") == image and pname != "logit_scale")
        return self

    def _query(self, batch):
        return self.embeddings(batch, products=False)["query"]

    def _product(self, batch):
        return self.product_image.encode_image(batch["product_image"])

    def embeddings(self, batch: Batch, products: bool = True) -> dict[str, torch.Tensor]:
        """Every L2-normalised embedding the batch allows: ``query_image``, ``query_text``, ``query`` (what
        retrieval uses), ``product_image``, ``product_text``."""
        out = {"query_image": self.query_image.encode_image(batch["query_image"])}
        out["query"] = out["query_image"]
        if self.kind == "4tower":
            out["query_text"] = self.query_text.encode_text(batch["query_text"])
            out["query"] = F.normalize(out["query_image"] + self.fusion["text_weight"] * out["query_text"], dim=-1)
        if products:
            out["product_image"] = self.product_image.encode_image(batch["product_image"])
            if self.kind != "img2img" and "product_text" in batch:
                out["product_text"] = self.product_text.encode_text(batch["product_text"])
        return out
