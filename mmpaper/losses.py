"""Losses: NT-Xent (Eq. 1 of the main paper) and the image-text alignment losses of the visual-search paper.

NT-Xent, with ``s`` the cosine similarity and ``τ`` the temperature::

    L = -1/N Σ_i log( exp(s(q_i, d_i⁺)/τ) / Σ_{d ∈ C_i} exp(s(q_i, d)/τ) )

``C_i`` holds the positive ``d_i⁺``, every other product of the batch (in-batch negatives) and, in the "Seen
Negative" data variant, the ``k`` extra negatives of *every* query in the batch (products matched to a query but
not purchased), so each query is contrasted against ``N + N·k`` candidates. The temperature relates to the
"scale" of sentence-transformers' MultipleNegativesRankingLoss by ``scale = 1/τ``.

Across processes (DDP), products and seen negatives are all-gathered with ``torch.distributed.nn``'s
differentiable ``all_gather``, so each process scores its local queries against the global batch and gradients
flow back to the process that produced each embedding: the summed gradient equals the single-process gradient
on the concatenated batch.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def _world() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from every process along dim 0, keeping the autograd path to each local part."""
    rank, world = _world()
    if world == 1:
        return x
    import torch.distributed.nn.functional as dist_fn

    return torch.cat(dist_fn.all_gather(x), dim=0)


def nt_xent(query: torch.Tensor, product: torch.Tensor, temperature: float = 0.05,
            seen_negatives: torch.Tensor | None = None, gather: bool = False,
            seen_mask: torch.Tensor | None = None) -> torch.Tensor:
    """NT-Xent (Eq. 1) over in-batch negatives plus optional seen negatives.

    Args:
        query: ``[N, D]`` query embeddings ``e_q`` (normalised here, so any scale is accepted).
        product: ``[N, D]`` embeddings of each query's purchased product ``d_i⁺``.
        temperature: ``τ``.
        seen_negatives: ``[N·k, D]`` (or ``[N, k, D]``) embeddings of the seen negatives, shared as candidates by
            every query of the batch.
        gather: all-gather products and negatives across processes (DDP) before scoring.
        seen_mask: ``[N·k]`` bool, False for an empty seen-negative slot (a query with fewer than ``k``): that
            candidate is left out of every ``C_i``, as if it were not in the batch.
    """
    if query.shape != product.shape:
        raise ValueError(f"query {tuple(query.shape)} and product {tuple(product.shape)} embeddings differ in shape")
    q = F.normalize(query.float(), dim=-1)
    candidates = F.normalize(product.float(), dim=-1)
    negatives = None
    if seen_negatives is not None:
        negatives = F.normalize(seen_negatives.float().reshape(-1, q.shape[1]), dim=-1)
        if seen_mask is not None and seen_mask.numel() != negatives.shape[0]:
            raise ValueError(f"seen_mask has {seen_mask.numel()} entries for {negatives.shape[0]} seen negatives")
    offset = 0
    if gather:
        rank, _ = _world()
        offset = rank * q.shape[0]
        candidates = gather_with_grad(candidates)
        if negatives is not None:
            negatives = gather_with_grad(negatives)
            if seen_mask is not None:
                seen_mask = gather_with_grad(seen_mask.reshape(-1).float()) > 0.5
    n_products = candidates.shape[0]
    if negatives is not None:
        candidates = torch.cat([candidates, negatives], dim=0)
    logits = q @ candidates.T / temperature
    if negatives is not None and seen_mask is not None:
        empty = ~seen_mask.reshape(-1).to(device=logits.device, dtype=torch.bool)
        left_out = torch.cat([torch.zeros(n_products, dtype=torch.bool, device=logits.device), empty])
        logits = logits.masked_fill(left_out[None, :], float("-inf"))
    labels = torch.arange(q.shape[0], device=q.device) + offset
    return F.cross_entropy(logits, labels)


class NTXentLoss(nn.Module):
    """Module form of :func:`nt_xent` with a fixed temperature."""

    def __init__(self, temperature: float = 0.05, gather: bool = False):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = temperature
        self.gather = gather

    def forward(self, query, product, seen_negatives=None, seen_mask=None):
        return nt_xent(query, product, self.temperature, seen_negatives, self.gather, seen_mask)


def symmetric_nt_xent(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.05) -> torch.Tensor:
    """CLIP's symmetric contrastive loss ``(NT-Xent(a→b) + NT-Xent(b→a)) / 2``: pairs ``(a_i, b_i)`` are positives.

    Stage 0 pretrains the tiny CLIP with it on the caption corpus; the visual-search models use it for the
    image-to-image loss and for each image-text alignment loss.
    """
    return 0.5 * (nt_xent(a, b, temperature) + nt_xent(b, a, temperature))


def alignment_loss(query_image: torch.Tensor, product_image: torch.Tensor, product_text: torch.Tensor | None,
                   temperature: float = 0.05, w_product_image_text: float = 1.0,
                   w_query_image_text: float = 1.0, *, query: torch.Tensor | None = None,
                   query_text: torch.Tensor | None = None, w_query_text: float = 1.0) -> torch.Tensor:
    """The visual-search loss of Zhu et al. (KDD 2024): the image-to-image metric loss plus the image-text
    alignment constraints against the product title::

        3-tower:  L = L(q_img, d_img) + w_1 · L(d_img, d_title) + w_2 · L(q_img, d_title)
        4-tower:  L = L(e_q, d_img)   + w_1 · L(d_img, d_title) + w_2 · L(q_img, d_title) + w_3 · L(q_text, d_title)

    each ``L`` a symmetric NT-Xent over in-batch negatives; ``e_q`` (``query``) is the 4-tower's fused query.
    With ``product_text=None`` it is the image-to-image baseline ``L(q_img, d_img)``.
    """
    loss = symmetric_nt_xent(query if query is not None else query_image, product_image, temperature)
    if product_text is None:
        return loss
    if w_product_image_text:
        loss = loss + w_product_image_text * symmetric_nt_xent(product_image, product_text, temperature)
    if w_query_image_text:
        loss = loss + w_query_image_text * symmetric_nt_xent(query_image, product_text, temperature)
    if query_text is not None and w_query_text:
        loss = loss + w_query_text * symmetric_nt_xent(query_text, product_text, temperature)
    return loss
