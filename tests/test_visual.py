"""The visual-search models (KDD 2024): each trains a step, frozen parts get no gradient, and the matching
metrics agree with brute force and hand-worked values."""
import numpy as np
import pytest
import torch

from mmpaper.metrics import distractor_preferred, visual_search_metrics
from mmpaper.models import VisualSearchModel
from mmpaper.train import VisualSearchSystem


def _photo_batch(clip, n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = lambda: torch.randint(0, 256, (n, 32, 32, 3), dtype=torch.uint8, generator=g)  # noqa: E731
    return {"query_image": images(), "product_image": images(),
            "product_text": clip.tokenize([f"title {i}" for i in range(n)]),
            "query_text": clip.tokenize([f"bag {i}" for i in range(n)])}


@pytest.mark.parametrize("kind", VisualSearchModel.KINDS)
def test_each_model_trains_a_step(clip, kind):
    torch.manual_seed(0)
    model = VisualSearchModel(clip, kind)
    system = VisualSearchSystem(model, name=f"vs-{kind}")
    opt = system.configure_optimizers()
    batch = _photo_batch(clip)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    loss = system.loss(batch)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    changed = {k.split(".")[0] for k, v in model.named_parameters() if not torch.equal(v, before[k])}
    assert changed == set(model.parts)
    q, d = model.encode_queries(batch), model.encode_products(batch)
    assert q.shape == d.shape and torch.allclose(q.norm(dim=1), torch.ones(len(q)))


def test_alignment_loss_gives_frozen_parts_no_gradient(clip):
    model = VisualSearchModel(clip, "3tower").set_trainable(product_text=False, product_image=False)
    model.train()
    loss = VisualSearchSystem(model).loss(_photo_batch(clip))
    loss.backward()
    assert all(p.grad is None for p in model.product_text.parameters())
    assert all(p.grad is None for p in model.product_image.parameters())
    assert not model.product_text.training and model.query_image.training
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.query_image.parameters())


def test_unknown_model_kind_names_the_valid_ones(clip):
    with pytest.raises(ValueError, match="img2img"):
        VisualSearchModel(clip, "5tower")


def test_visual_search_metrics_hand_worked():
    # products: (category, colour, pattern)
    attrs = np.array([[0, 1, 1],   # 0: the photographed product
                      [0, 1, 1],   # 1: looks identical (a visual match)
                      [5, 1, 1],   # 2: same colour + pattern, other category: a false positive
                      [0, 2, 1],   # 3: same category, other colour: neither
                      [7, 3, 0]])  # 4: unrelated
    topk = np.array([[2, 0, 1, 3], [4, 3, 2, 1]])
    m = visual_search_metrics(topk, np.array([0, 0]), attrs, ks=(1, 2, 4), k_precision=4)
    assert m["recall@1"] == 0.0 and m["recall@2"] == 0.5 and m["recall@4"] == 0.5
    assert m["precision@4"] == pytest.approx(3 / 8)      # (0, 1) in list one, (1) in list two
    assert m["false_positive@4"] == pytest.approx(2 / 8)  # product 2 in both lists


def test_visual_search_metrics_match_brute_force():
    rng = np.random.default_rng(0)
    attrs = np.stack([rng.integers(0, 4, 300), rng.integers(0, 3, 300), rng.integers(0, 2, 300)], 1)
    topk = np.stack([rng.permutation(300)[:20] for _ in range(50)])
    target = rng.integers(0, 300, 50)
    m = visual_search_metrics(topk, target, attrs, ks=(1, 5, 20), k_precision=5)
    fp = prec = 0
    for row, t in zip(topk, target):
        for p in row[:5]:
            look = attrs[p, 1] == attrs[t, 1] and attrs[p, 2] == attrs[t, 2]
            prec += look and attrs[p, 0] == attrs[t, 0]
            fp += look and attrs[p, 0] != attrs[t, 0]
    assert m["precision@5"] == pytest.approx(prec / 250) and m["false_positive@5"] == pytest.approx(fp / 250)
    for k in (1, 5, 20):
        assert m[f"recall@{k}"] == pytest.approx(np.mean([t in row[:k] for row, t in zip(topk, target)]))


def test_distractor_preferred_hand_worked():
    products = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    queries = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    # photo 0: target 0 (score 1) vs distractor 2 (0.6) → no; photo 1: target 0 (0) vs 2 (0.8) → yes;
    # photo 2 has no distractor and does not count
    assert distractor_preferred(queries, products, np.array([0, 0, 1]), np.array([2, 2, -1])) == 0.5
