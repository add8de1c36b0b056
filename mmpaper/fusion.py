"""Fusion modules ``F(x, y)`` of §3.1: how a BiBERT embedding and a CLIP embedding become one vector.

Every module L2-normalises its inputs first, so with concat fusion the score of a query and a product is the sum
of the BiBERT cosine and the CLIP cosine (Eq. 3), and with α-concat it is ``α²·cos_bibert + (1-α)²·cos_clip``
(Eq. 4). The retrieval model normalises the fused vector again; that rescales every score of a query by the same
constant and so changes no ranking.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F


class ConcatFusion(nn.Module):
    """Eq. 3: ``F(x, y) = [x ; y]`` with both parts L2-normalised. No parameters."""

    def __init__(self, in_dims: Sequence[int]):
        super().__init__()
        self.out_dim = int(sum(in_dims))

    def forward(self, *parts: torch.Tensor) -> torch.Tensor:
        return torch.cat([F.normalize(p, dim=-1) for p in parts], dim=-1)


class AlphaConcatFusion(nn.Module):
    """Eq. 4: ``F(x, y) = [α·x ; (1-α)·y]`` with both parts L2-normalised. α is a fixed hyper-parameter chosen
    on a validation split (``mmpaper.experiments``), not a learned weight."""

    def __init__(self, in_dims: Sequence[int], alpha: float = 0.5):
        super().__init__()
        if len(in_dims) != 2:
            raise ValueError(f"α-concat fuses exactly two embeddings, got {len(in_dims)}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
        self.alpha = float(alpha)
        self.out_dim = int(sum(in_dims))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.alpha * F.normalize(x, dim=-1), (1.0 - self.alpha) * F.normalize(y, dim=-1)], dim=-1)


class MLPFusion(nn.Module):
    """``F(x, y) = MLP([x ; y])``: Linear → GELU → Linear over the normalised, concatenated parts.

    The query side and the product side each get their own instance (same architecture, separate weights). With a
    single input it is the 3tMM query mapping ``F_q(f_q(q))`` of Eq. 5.
    """

    def __init__(self, in_dims: Sequence[int], out_dim: int, hidden_dim: int | None = None):
        super().__init__()
        in_dim = int(sum(in_dims))
        hidden_dim = hidden_dim or 2 * in_dim
        self.out_dim = int(out_dim)
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, out_dim))

    def forward(self, *parts: torch.Tensor) -> torch.Tensor:
        return self.mlp(torch.cat([F.normalize(p, dim=-1) for p in parts], dim=-1))


FUSIONS = {"cat": ConcatFusion, "acat": AlphaConcatFusion, "mlp": MLPFusion}


def build_fusion(kind: str, in_dims: Sequence[int], *, alpha: float = 0.5, out_dim: int = 128,
                 hidden_dim: int | None = None) -> nn.Module:
    """One fusion module by name: ``cat`` (Eq. 3), ``acat`` (Eq. 4) or ``mlp``."""
    if kind == "cat":
        return ConcatFusion(in_dims)
    if kind == "acat":
        return AlphaConcatFusion(in_dims, alpha=alpha)
    if kind == "mlp":
        return MLPFusion(in_dims, out_dim=out_dim, hidden_dim=hidden_dim)
    raise ValueError(f"unknown fusion {kind!r}; valid: {sorted(FUSIONS)}")
