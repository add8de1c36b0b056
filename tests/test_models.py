import pytest
import torch

from mmpaper.losses import nt_xent
from mmpaper.models import BiBERTRetriever, CLIPRetriever, FourTowerMM, ThreeTowerMM


def _grads(module):
    return [p.grad for p in module.parameters()]


@pytest.mark.parametrize("make", [
    lambda b, c: BiBERTRetriever(b), lambda b, c: CLIPRetriever(c),
    lambda b, c: FourTowerMM(b, c, "cat"), lambda b, c: FourTowerMM(b, c, "acat", alpha=0.3),
    lambda b, c: FourTowerMM(b, c, "mlp", out_dim=8), lambda b, c: ThreeTowerMM(b, c, out_dim=8)])
def test_embeddings_are_normalised_float32(make, bibert, clip, batch):
    model = make(bibert, clip).eval()
    for emb in (model.encode_queries(batch), model.encode_products(batch)):
        assert emb.dtype == torch.float32 and emb.shape[0] == 6
        torch.testing.assert_close(emb.norm(dim=-1), torch.ones(6))


@pytest.mark.parametrize("flags", [dict(bibert=False, clip=False, fusion=True),   # "train MLP"
                                   dict(bibert=True, clip=False, fusion=True)])   # "tune BiBERT" + MLP
def test_frozen_parts_receive_no_gradient(flags, bibert, clip, batch):
    import copy

    model = FourTowerMM(copy.deepcopy(bibert), copy.deepcopy(clip), "mlp", out_dim=8).set_trainable(**flags)
    model.zero_grad(set_to_none=True)
    model.train()
    nt_xent(model.encode_queries(batch), model.encode_products(batch)).backward()
    for part, trainable in flags.items():
        grads = _grads(getattr(model, part))
        if trainable:
            assert any(g is not None and g.abs().sum() > 0 for g in grads), part
        else:
            assert all(g is None for g in grads), part
            assert not getattr(model, part).training, f"frozen {part} must stay in eval mode"
    assert model.trainable_parts == [p for p, t in flags.items() if t]


def test_three_tower_never_uses_clip_text(bibert, clip, batch):
    model = ThreeTowerMM(bibert, clip, out_dim=8).eval()
    without = {k: v for k, v in batch.items() if k != "query_clip_tokens"}
    torch.testing.assert_close(model.encode_queries(without), model.encode_queries(batch))


def test_precomputed_clip_features_match_raw_towers(bibert, clip, batch):
    model = FourTowerMM(bibert, clip, "cat").eval()
    with torch.no_grad():
        feats = dict(batch, query_clip=clip.encode_text(batch["query_clip_tokens"]),
                     product_clip=clip.encode_image(batch["product_image"]))
        featureless = FourTowerMM(bibert, None, "cat", clip_dim=clip.embed_dim).eval()
        torch.testing.assert_close(featureless.encode_products(feats), model.encode_products(batch))
        torch.testing.assert_close(featureless.encode_queries(feats), model.encode_queries(batch))


def test_unknown_part_is_named(bibert):
    with pytest.raises(ValueError, match="has no part 'mlp'"):
        BiBERTRetriever(bibert).set_trainable(mlp=True)


def test_three_tower_query_side_switch(bibert, clip, batch):
    import torch.nn.functional as F

    identity = ThreeTowerMM(bibert, clip, out_dim=8, query_side="identity").eval()
    with torch.no_grad():  # e_q = f_q(q): BiBERT's query embedding itself, no query MLP
        expected = F.normalize(bibert.encode_query(batch["query_input_ids"], batch["query_attention_mask"]), dim=-1)
        torch.testing.assert_close(identity.encode_queries(batch), expected)
        # the product MLP lands in BiBERT's query space, whatever out_dim says
        assert identity.encode_products(batch).shape[1] == bibert.embed_dim
    assert sum(p.numel() for p in identity.fusion["query"].parameters()) == 0
    mlp = ThreeTowerMM(bibert, clip, out_dim=8).eval()
    assert mlp.query_side == "mlp" and sum(p.numel() for p in mlp.fusion["query"].parameters()) > 0
    assert mlp.encode_queries(batch).shape[1] == 8
    with pytest.raises(ValueError, match="valid: \\['mlp', 'identity'\\]"):
        ThreeTowerMM(bibert, clip, query_side="linear")


def test_three_tower_identity_query_side_trains_only_the_product_mlp(bibert, clip, batch):
    import copy

    model = ThreeTowerMM(copy.deepcopy(bibert), clip, query_side="identity").set_trainable(
        bibert=False, clip=False, fusion=True)
    model.train()
    nt_xent(model.encode_queries(batch), model.encode_products(batch)).backward()
    assert all(g is None for g in _grads(model.bibert))
    assert all(g is not None and g.abs().sum() > 0 for g in _grads(model.fusion["product"]))
