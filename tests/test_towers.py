import pytest
import torch
import torch.nn as nn

from mmpaper.towers import TINY_CLIP, BiBERT, CLIPTowers


def test_bibert_towers_share_all_but_layernorm_and_projection(bibert):
    q_params = dict(bibert.query_bert.named_parameters())
    d_params = dict(bibert.product_bert.named_parameters())
    assert q_params.keys() == d_params.keys()
    for name, p in q_params.items():
        if "LayerNorm" in name:
            assert p is not d_params[name], name
        else:
            assert p is d_params[name], name  # shared by identity, not by copy
    assert bibert.query_projection.weight is not bibert.product_projection.weight
    n_layernorm = sum(isinstance(m, nn.LayerNorm) for m in bibert.query_bert.modules())
    assert n_layernorm == 1 + 2 * bibert.config.num_layers  # embeddings + 2 per transformer layer


def test_bibert_paper_defaults():
    from mmpaper.towers import BiBERTConfig

    cfg = BiBERTConfig()
    assert (cfg.num_layers, cfg.num_heads) == (2, 4)


def test_shared_weights_move_together(bibert):
    bibert.query_bert.embeddings.word_embeddings.weight.data[0, 0] += 1.0
    assert torch.equal(bibert.query_bert.embeddings.word_embeddings.weight,
                       bibert.product_bert.embeddings.word_embeddings.weight)
    bibert.query_bert.embeddings.word_embeddings.weight.data[0, 0] -= 1.0


def test_bibert_save_and_load_round_trip(bibert, tmp_path):
    bibert.save(tmp_path)
    loaded = BiBERT.load(tmp_path)
    texts = ["red shirt", "blue jeans"]
    assert loaded.tokenizer(texts)["input_ids"] == bibert.tokenizer(texts)["input_ids"]
    tok = bibert.tokenize(texts)
    bibert.eval(), loaded.eval()
    torch.testing.assert_close(loaded.encode_product(**tok), bibert.encode_product(**tok))
    # sharing survives the reload
    assert loaded.product_bert.encoder.layer[0].attention.self.query.weight is \
        loaded.query_bert.encoder.layer[0].attention.self.query.weight


def test_wordpiece_vocabulary_is_trained_on_the_text(bibert):
    vocab = bibert.tokenizer.get_vocab()
    assert {"shirt", "jeans", "[PAD]", "[CLS]"} <= set(vocab)


WORDPIECE_CORPUS = ["red sneakers", "blue sneakers for men", "black sneakers", "white trainers", "sneakers xl",
                    "striped scarf", "striped socks", "striped shirt", "charcoal boots", "charcoal rug"] * 3


def test_wordpiece_gives_a_misspelt_word_the_pieces_of_the_word_it_meant():
    from mmpaper.towers import train_wordpiece

    tok = train_wordpiece(WORDPIECE_CORPUS, 120)
    pieces = tok.tokenize("sneakrs stripd")
    assert pieces[0] == "sneak" and pieces[1].startswith("##")  # not a spray of single characters
    assert "stri" in pieces[2] or pieces[2].startswith("strip")
    assert "[UNK]" not in tok.tokenize("kcabr oolx")  # every character of the corpus is in the vocabulary


def test_wordpiece_vocabulary_is_the_same_in_every_process():
    import json
    import subprocess
    import sys

    code = ("import json; from mmpaper.towers import train_wordpiece; "
            f"print(json.dumps(train_wordpiece({WORDPIECE_CORPUS!r}, 120).get_vocab(), sort_keys=True))")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**__import__("os").environ, "PYTHONHASHSEED": str(seed)}).stdout
            for seed in (1, 2, 3)}
    assert len(outs) == 1 and len(json.loads(outs.pop())) == 120


def test_clip_pretrained_from_local_checkpoint(clip, tmp_path):
    path = tmp_path / "tiny.pt"
    clip.save(path)
    loaded = CLIPTowers(TINY_CLIP, pretrained=str(path))
    tokens = clip.tokenize(["a red shirt"])
    images = torch.randint(0, 256, (2, 32, 32, 3), dtype=torch.uint8)
    clip.eval(), loaded.eval()
    torch.testing.assert_close(loaded.encode_text(tokens), clip.encode_text(tokens))
    torch.testing.assert_close(loaded.encode_image(images), clip.encode_image(images))


def test_clip_encoders_normalise_and_freeze(clip):
    emb = clip.encode_image(torch.randint(0, 256, (3, 40, 40, 3), dtype=torch.uint8))  # resized to 32 px
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(3))
    frozen = CLIPTowers().freeze()
    assert not any(p.requires_grad for p in frozen.parameters()) and not frozen.training


def test_clip_errors_are_clear():
    with pytest.raises(ValueError, match="unknown CLIP model 'ViT-Nope'"):
        CLIPTowers("ViT-Nope")
    with pytest.raises(RuntimeError, match="could not load CLIP"):
        CLIPTowers(TINY_CLIP, pretrained="/nonexistent/weights.pt")
