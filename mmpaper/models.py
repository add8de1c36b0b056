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
    """3tMM, Eq. 5: no CLIP text tower; the product side is ``e_d = F_d(f_d(d_text), g_i(d_image))`` and its MLP
    must align CLIP's image space with BiBERT's text space.

    Eq. 5 itself was lost when the seed's text was extracted ("with trivial notation abuse, our 3tMM becomes as
    | (5) |"), and the stored arXiv HTML page (2501.07365v3) we could search holds only the paper's opening, not
    §3.2, so the query side is a reading. Two are offered by ``query_side``:

    * ``"mlp"`` (default): ``e_q = F_q(f_q(q))``, the query MLP of Eq. 2 applied to the BiBERT embedding alone.
      This is what "notation abuse" suggests (``F_q`` written with one argument instead of two) and what the
      design brief restates; it keeps the 3tMM an ablation of the 4tMM that removes only ``g_t``.
    * ``"identity"``: ``e_q = f_q(q)``, no query MLP; the product MLP maps into BiBERT's query space itself (its
      output width is then BiBERT's, and ``out_dim`` is not used). The seed's sentence after Eq. 5 ("the MLP is
      functioning as aligning the embedding of image to the BiBERT vector space") fits this reading too.
    """

    parts = ("bibert", "clip", "fusion")
    QUERY_SIDES = ("mlp", "identity")

    def __init__(self, bibert: BiBERT, clip: CLIPTowers | None, *, clip_dim: int | None = None, out_dim: int = 128,
                 hidden_dim: int | None = None, query_side: str = "mlp"):
        super().__init__()
        if query_side not in self.QUERY_SIDES:
            raise ValueError(f"unknown 3tMM query side {query_side!r}; valid: {list(self.QUERY_SIDES)}")
        self.query_side = query_side
        self.bibert = bibert
        self.clip = clip if clip is not None else nn.Identity()
        clip_dim = clip_dim or clip.embed_dim
        if query_side == "identity":
            out_dim = bibert.embed_dim
            query = nn.Identity()
        else:
            query = build_fusion("mlp", (bibert.embed_dim,), out_dim=out_dim, hidden_dim=hidden_dim)
        self.fusion = nn.ModuleDict({
            "query": query,
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
    """The visual-search towers of Zhu et al. (KDD 2024), every encoder started from one vision-language pretrained
    CLIP (the paper's point: bring that pretraining into metric learning).

    * ``img2img``: a query-photo encoder and a product-image encoder, ``e_q = h_q(q_img)``, ``e_d = h_d(d_img)``.
    * ``3tower``: adds a product-text encoder ``h_t(d_title)`` used only by the alignment losses at training
      time; retrieval stays image to image.
    * ``4tower``: the query also carries a short text ``q_text`` with a fourth encoder ``h_s``; the fused query is
      ``e_q = normalise(h_q(q_img) + w · h_s(q_text))`` with a learnt weight ``w``.

    ``shared=True`` (the default) is the published model (arXiv 2412.13364, Fig. 4: "the weights between two
    image encoders are shared ... the two text encoder weights are shared in the 4-tower architecture"): one copy
    of the CLIP, whose image half is both ``h_q`` and ``h_d`` and whose text half is both ``h_t`` and ``h_s``; the
    part names then refer to the same module (``model.query_image is model.product_image``). ``shared=False``
    keeps one independent copy per tower, each learning only its own half.

    Each part is a *role* — an image role uses the ``visual.*`` weights of its module, a text role the others —
    so with shared encoders, roles that are one set of weights must be switched together (``set_trainable``
    refuses otherwise).

    Batch keys: ``query_image`` / ``product_image`` (uint8 ``[N, H, W, 3]``), ``product_text`` and ``query_text``
    (open_clip tokens). Products are always embedded from their image alone, so all three models search the same
    image gallery.
    """

    KINDS = ("img2img", "3tower", "4tower")
    IMAGE_ROLES = ("query_image", "product_image")

    def __init__(self, clip: CLIPTowers, kind: str = "3tower", *, shared: bool = True):
        super().__init__()
        import copy

        if kind not in self.KINDS:
            raise ValueError(f"unknown visual-search model {kind!r}; valid: {list(self.KINDS)}")
        self.kind, self.shared = kind, bool(shared)
        self.parts = ("query_image", "product_image") + (("product_text",) if kind != "img2img" else ()) + \
            (("query_text", "fusion") if kind == "4tower" else ())
        towers = [p for p in self.parts if p != "fusion"]
        one = copy.deepcopy(clip) if shared else None
        for part in towers:  # nn.Module registers the same module under every name it is given
            setattr(self, part, one if shared else copy.deepcopy(clip))
        if kind == "4tower":
            self.fusion = nn.ParameterDict({"text_weight": nn.Parameter(torch.ones(()))})
        self.set_trainable(**{part: True for part in self.parts})  # the pretrained CLIP may arrive frozen

    def part_parameters(self, part: str) -> list[nn.Parameter]:
        """The weights a part (role) uses: the ``visual.*`` half of its CLIP for an image role, the text half
        (without ``logit_scale``, which no loss here uses) for a text role."""
        if part not in self.parts:
            raise ValueError(f"{type(self).__name__} has no part {part!r}; parts: {list(self.parts)}")
        if part == "fusion":
            return list(self.fusion.parameters())
        image = part in self.IMAGE_ROLES
        return [p for name, p in getattr(self, part).model.named_parameters()
                if name.startswith("visual.") == image and name != "logit_scale"]

    def _half_modules(self, part: str) -> list[nn.Module]:
        if part == "fusion":
            return [self.fusion]
        if not self.shared:  # an independent tower's other half serves no role at all
            return [getattr(self, part)]
        clip = getattr(self, part).model
        image = part in self.IMAGE_ROLES
        return [m for name, m in clip.named_children() if (name == "visual") == image]

    def set_trainable(self, **flags: bool) -> "VisualSearchModel":
        for part in flags:
            if part not in self.parts:
                raise ValueError(f"{type(self).__name__} has no part {part!r}; parts: {list(self.parts)}")
        wanted = {**{p: p not in self._frozen for p in self.parts}, **{p: bool(t) for p, t in flags.items()}}
        if self.shared:
            for a in self.parts:
                for b in self.parts:
                    same = a != "fusion" and b != "fusion" and getattr(self, a) is getattr(self, b) and \
                        (a in self.IMAGE_ROLES) == (b in self.IMAGE_ROLES)
                    if same and wanted[a] != wanted[b]:
                        raise ValueError(f"{a!r} and {b!r} are one shared encoder (shared=True): make both "
                                         f"trainable or neither")
        for part in self.parts:  # a frozen tower's other half stays frozen too: unused weights stay out of the
            if part != "fusion":  # optimiser and of DDP's reducer
                for p in getattr(self, part).parameters():
                    p.requires_grad_(False)
        for part, trainable in wanted.items():
            if trainable:
                for p in self.part_parameters(part):
                    p.requires_grad_(True)
            elif part == "fusion":
                for p in self.fusion.parameters():
                    p.requires_grad_(False)
            (self._frozen.discard if trainable else self._frozen.add)(part)
        return self.train(self.training)

    def train(self, mode: bool = True) -> "VisualSearchModel":
        nn.Module.train(self, mode)
        for part in self._frozen:  # only the frozen role's half: with shared encoders the other half may learn
            for module in self._half_modules(part):
                module.eval()
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


class CategoryOrderRetriever(RetrievalModel):
    """A control row, not a model of the paper: each query's *true* category (the world's intent), ranked by a fixed
    order of the products — by true popularity (the oracle) or at random. ``e_q = [onehot(c_q); 1]``,
    ``e_d = [onehot(c_d); s_d]`` with ``s_d ∈ [0, 0.5)`` the product's place in the order: after normalisation a
    product of the query's category always outscores every other, and within a category (and among the rest) the
    score rises with ``s_d``. So exact top-k search through the same evaluation returns the category in that order,
    then the rest of the catalog in that order."""

    parts = ()

    def __init__(self, n_categories: int, order: str):
        super().__init__()
        self.n_categories, self.order = n_categories, order

    def _query(self, batch: Batch) -> torch.Tensor:
        one = F.one_hot(batch["query_category"].long(), self.n_categories).float()
        return torch.cat([one, torch.ones(len(one), 1)], dim=1)

    def _product(self, batch: Batch) -> torch.Tensor:
        one = F.one_hot(batch["product_category"].long(), self.n_categories).float()
        return torch.cat([one, batch[self.order].float()[:, None]], dim=1)
