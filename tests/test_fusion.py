import pytest
import torch
import torch.nn.functional as F

from mmpaper.fusion import AlphaConcatFusion, ConcatFusion, MLPFusion, build_fusion


def _pairs(seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(5, d, generator=g) for d in (8, 6, 8, 6)]


def test_concat_score_is_sum_of_cosines():
    xq, yq, xd, yd = _pairs()
    fuse = ConcatFusion((8, 6))
    score = (fuse(xq, yq) * fuse(xd, yd)).sum(-1)
    cos = F.cosine_similarity(xq, xd) + F.cosine_similarity(yq, yd)
    torch.testing.assert_close(score, cos)


def test_alpha_half_concat_scores_are_half_the_sum_of_cosines():
    xq, yq, xd, yd = _pairs(1)
    fuse = AlphaConcatFusion((8, 6), alpha=0.5)
    eq, ed = F.normalize(fuse(xq, yq), dim=-1), F.normalize(fuse(xd, yd), dim=-1)
    expected = 0.5 * (F.cosine_similarity(xq, xd) + F.cosine_similarity(yq, yd))
    torch.testing.assert_close((eq * ed).sum(-1), expected)


def test_alpha_weights_the_two_cosines():
    xq, yq, xd, yd = _pairs(2)
    a = 0.8
    fuse = AlphaConcatFusion((8, 6), alpha=a)
    expected = a**2 * F.cosine_similarity(xq, xd) + (1 - a) ** 2 * F.cosine_similarity(yq, yd)
    torch.testing.assert_close((fuse(xq, yq) * fuse(xd, yd)).sum(-1), expected)


def test_mlp_fusion_shapes_and_errors():
    xq, yq, _, _ = _pairs()
    assert MLPFusion((8, 6), out_dim=4)(xq, yq).shape == (5, 4)
    assert MLPFusion((8,), out_dim=4)(xq).shape == (5, 4)
    with pytest.raises(ValueError, match="unknown fusion 'sum'"):
        build_fusion("sum", (8, 6))
    with pytest.raises(ValueError, match="alpha"):
        AlphaConcatFusion((8, 6), alpha=1.5)
