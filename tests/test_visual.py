"""The visual-search models (KDD 2024): each trains a step, frozen parts get no gradient, and the matching
metrics agree with brute force and hand-worked values."""
import numpy as np
import pytest
import torch

from mmpaper.metrics import distractor_preferred, visual_search_metrics, visual_search_per_photo
from mmpaper.models import VisualSearchModel
from mmpaper.train import VisualSearchSystem


def _photo_batch(clip, n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = lambda: torch.randint(0, 256, (n, 32, 32, 3), dtype=torch.uint8, generator=g)  # noqa: E731
    return {"query_image": images(), "product_image": images(),
            "product_text": clip.tokenize([f"title {i}" for i in range(n)]),
            "query_text": clip.tokenize([f"bag {i}" for i in range(n)])}


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("kind", VisualSearchModel.KINDS)
def test_each_model_trains_a_step(clip, kind, shared):
    torch.manual_seed(0)
    model = VisualSearchModel(clip, kind, shared=shared)
    system = VisualSearchSystem(model, name=f"vs-{kind}")
    opt = system.configure_optimizers()
    batch = _photo_batch(clip)
    before = {part: [p.detach().clone() for p in model.part_parameters(part)] for part in model.parts}
    loss = system.loss(batch)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    for part in model.parts:  # every role's weights moved
        assert any(not torch.equal(p, b) for p, b in zip(model.part_parameters(part), before[part])), part
    q, d = model.encode_queries(batch), model.encode_products(batch)
    assert q.shape == d.shape and torch.allclose(q.norm(dim=1), torch.ones(len(q)))


def test_shared_encoders_are_one_clip_by_identity(clip):
    four = VisualSearchModel(clip, "4tower")
    assert four.query_image is four.product_image          # Fig. 4: the two image encoders share weights
    assert four.query_text is four.product_text            # ... and, in the 4-tower, the two text encoders
    assert four.query_image is four.product_text           # all from one CLIP (its image and its text half)
    assert four.query_image is not clip                    # a copy: the stage-0 CLIP is left as it was
    n_clip = sum(p.numel() for p in clip.parameters())
    assert sum(p.numel() for p in four.parameters()) == n_clip + 1  # one CLIP plus the text weight w
    independent = VisualSearchModel(clip, "4tower", shared=False)
    towers = [independent.query_image, independent.product_image, independent.product_text, independent.query_text]
    assert len({id(t) for t in towers}) == 4
    assert sum(p.numel() for p in independent.parameters()) == 4 * n_clip + 1


def test_shared_encoder_gets_gradient_from_both_roles(clip):
    model = VisualSearchModel(clip, "3tower").train()
    batch = _photo_batch(clip)
    VisualSearchSystem(model).loss(batch).backward()
    for part in model.parts:
        assert all(p.grad is not None for p in model.part_parameters(part)), part
        assert sum(p.grad.abs().sum() for p in model.part_parameters(part)) > 0, part
    # the query side alone moves the product embeddings: one image encoder serves both
    model.zero_grad(set_to_none=True)
    model.encode_queries(batch).sum().backward()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0)
    with torch.no_grad():
        before = model.encode_products(batch)
    opt.step()
    with torch.no_grad():
        assert not torch.allclose(model.encode_products(batch), before)
    img2img = VisualSearchModel(clip, "img2img")
    assert all(not p.requires_grad for name, p in img2img.query_image.model.named_parameters()
               if not name.startswith("visual."))  # the unused text half stays out of the optimiser


def test_shared_roles_must_be_switched_together(clip):
    model = VisualSearchModel(clip, "3tower")
    with pytest.raises(ValueError, match="'query_image' and 'product_image' are one shared encoder"):
        model.set_trainable(product_image=False)
    model.set_trainable(product_text=False).train()
    VisualSearchSystem(model).loss(_photo_batch(clip)).backward()
    assert all(p.grad is None for p in model.part_parameters("product_text"))
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.part_parameters("query_image"))
    assert not model.product_text.model.transformer.training and model.query_image.model.visual.training
    assert model.trainable_parts == ["query_image", "product_image"]


def test_shared_model_survives_save_and_load(clip):
    torch.manual_seed(1)
    a = VisualSearchModel(clip, "4tower")
    with torch.no_grad():
        a.fusion["text_weight"].fill_(0.3)
        next(iter(a.query_image.model.visual.parameters())).add_(0.1)
    b = VisualSearchModel(clip, "4tower")
    b.load_state_dict(a.state_dict())
    batch = _photo_batch(clip)
    a.eval(), b.eval()
    with torch.no_grad():
        torch.testing.assert_close(b.encode_queries(batch), a.encode_queries(batch))
        torch.testing.assert_close(b.encode_products(batch), a.encode_products(batch))
    assert b.query_image is b.product_image


def test_alignment_loss_gives_frozen_parts_no_gradient(clip):
    model = VisualSearchModel(clip, "3tower", shared=False).set_trainable(product_text=False, product_image=False)
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
    per = visual_search_per_photo(topk, np.array([0, 0]), attrs, ks=(1, 2, 4), k_precision=4)
    np.testing.assert_array_equal(per["recall@2"], [1, 0])
    np.testing.assert_array_equal(per["matches@4"], [2, 1])
    np.testing.assert_array_equal(per["false_positives@4"], [1, 1])


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
    np.testing.assert_array_equal(
        distractor_preferred(queries, products, np.array([0, 0, 1]), np.array([2, 2, -1]), per_photo=True), [0, 1, -1])


def test_false_positive_is_defined_by_look_and_category_only():
    # the definition uses (category, colour, pattern) and nothing else: permuting any other product attribute, or
    # the photo's text query, cannot change it — the 4-tower's text is no part of what counts as a false positive
    attrs = np.array([[0, 1, 1], [5, 1, 1], [5, 2, 1]])
    m = visual_search_metrics(np.array([[1, 2, 0]]), np.array([0]), attrs, ks=(1,), k_precision=3)
    assert m["false_positive@3"] == pytest.approx(1 / 3) and m["precision@3"] == pytest.approx(1 / 3)
