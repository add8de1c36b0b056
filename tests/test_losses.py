import math

import pytest
import torch
import torch.nn.functional as F

from mmpaper.losses import NTXentLoss, alignment_loss, nt_xent, symmetric_nt_xent


def _reference(q, d, tau, negs=None):
    """Eq. 1 written as the paper states it, one query at a time."""
    q, d = F.normalize(q, dim=-1), F.normalize(d, dim=-1)
    cands = d if negs is None else torch.cat([d, F.normalize(negs.reshape(-1, q.shape[1]), dim=-1)])
    total = 0.0
    for i in range(q.shape[0]):
        num = torch.exp(q[i] @ d[i] / tau)
        den = sum(torch.exp(q[i] @ c / tau) for c in cands)
        total = total - torch.log(num / den)
    return total / q.shape[0]


def test_nt_xent_hand_worked():
    # q1 = d1 = e1, q2 = d2 = e2 (orthogonal): s(q_i, d_i) = 1, s(q_i, d_j) = 0, τ = 0.5.
    # L = -log(e^2 / (e^2 + e^0)) for both queries.
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    expected = -math.log(math.exp(2) / (math.exp(2) + 1))
    assert nt_xent(q, q.clone(), temperature=0.5).item() == pytest.approx(expected, rel=1e-6)


def test_nt_xent_hand_worked_with_seen_negatives():
    # Seen negatives n1 = -e1 (cos -1 to q1, 0 to q2) and n2 = (e1+e2)/√2 (cos 1/√2 to both), shared by both queries.
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    negs = torch.tensor([[-1.0, 0.0], [1.0, 1.0]])
    r = 1 / math.sqrt(2)
    l1 = -math.log(math.exp(2) / (math.exp(2) + 1 + math.exp(-2) + math.exp(2 * r)))
    l2 = -math.log(math.exp(2) / (math.exp(2) + 1 + 1 + math.exp(2 * r)))
    got = nt_xent(q, q.clone(), temperature=0.5, seen_negatives=negs).item()
    assert got == pytest.approx((l1 + l2) / 2, rel=1e-6)


@pytest.mark.parametrize("k", [0, 3])
def test_nt_xent_matches_reference_on_random_inputs(k):
    g = torch.Generator().manual_seed(k)
    q, d = torch.randn(7, 5, generator=g), torch.randn(7, 5, generator=g)
    negs = torch.randn(7, k, 5, generator=g) if k else None
    got = nt_xent(q, d, temperature=0.1, seen_negatives=negs)
    assert got.item() == pytest.approx(_reference(q, d, 0.1, negs).item(), rel=1e-5)


def test_nt_xent_rejects_bad_input():
    with pytest.raises(ValueError, match="differ in shape"):
        nt_xent(torch.randn(3, 4), torch.randn(2, 4))
    with pytest.raises(ValueError, match="temperature"):
        NTXentLoss(temperature=0.0)


def test_symmetric_and_alignment_losses():
    g = torch.Generator().manual_seed(1)
    a, b, c = (torch.randn(4, 3, generator=g) for _ in range(3))
    assert symmetric_nt_xent(a, b).item() == pytest.approx(0.5 * (nt_xent(a, b) + nt_xent(b, a)).item())
    full = alignment_loss(a, b, c, w_product_image_text=0.5, w_query_image_text=2.0)
    expected = symmetric_nt_xent(a, b) + 0.5 * symmetric_nt_xent(b, c) + 2.0 * symmetric_nt_xent(a, c)
    assert full.item() == pytest.approx(expected.item(), rel=1e-6)
    assert alignment_loss(a, b, c, 0.05, 0.0, 0.0).item() == pytest.approx(symmetric_nt_xent(a, b).item())


def test_alignment_loss_hand_worked():
    # q_img = d_img = (e1, e2) but the titles are swapped, t = (e2, e1); τ = 0.5, so a matched cosine gives e^2.
    # L(q_img, d_img) = -log(e^2 / (e^2 + e^0)) = log(1 + e^-2) in each direction;
    # L(d_img, t) = L(q_img, t) = -log(e^0 / (e^0 + e^2)) = log(1 + e^2) (the positive is orthogonal).
    e = torch.eye(2)
    t = e.flip(0)
    matched, crossed = math.log(1 + math.exp(-2)), math.log(1 + math.exp(2))
    got = alignment_loss(e, e.clone(), t, temperature=0.5, w_product_image_text=0.5, w_query_image_text=2.0)
    assert got.item() == pytest.approx(matched + 0.5 * crossed + 2.0 * crossed, rel=1e-6)
    assert alignment_loss(e, e.clone(), None, temperature=0.5).item() == pytest.approx(matched, rel=1e-6)
    # 4-tower: the fused query replaces q_img in the metric loss; the query text adds w_3 · L(q_text, t)
    four = alignment_loss(e, e.clone(), t, 0.5, 1.0, 1.0, query=t, query_text=e.clone(), w_query_text=3.0)
    assert four.item() == pytest.approx(crossed + crossed + crossed + 3.0 * crossed, rel=1e-6)
