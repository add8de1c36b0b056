"""The encoder towers of the main paper.

* BiBERT (§2.2): a query tower ``f_q`` and a product-text tower ``f_d``, each a BERT with 2 transformer layers and
  4 attention heads. The two towers share every weight except their LayerNorms and their projection layer. The
  sharing is by identity (the product tower holds the very same ``nn.Module`` objects as the query tower), so an
  optimiser step moves both at once and the state dict cannot drift apart.
* CLIP (§2.2): ``g_t`` and ``g_i``, the text and image encoders of an ``open_clip`` model. The paper used a DFN-5B
  CLIP (``ViT-H-14`` / ``dfn5b``); offline we register ``mmpaper-tiny-clip``, a CPU-sized config that stage 0
  pretrains on the world's caption corpus: open_clip's modified ResNet image tower at width 16 (one block per
  stage; at 32 pixels it learns shapes that a ViT of the same cost, 4x4 patches of 8 pixels, did not) and a
  2-layer text transformer.
* ``mmpaper-ViT-B-8-64`` (the ``gpu`` preset's stage 0): open_clip's ViT-B — the ViT-B-32 text tower and a
  ViT-B/8 image tower — shaped for the world's 64-pixel pictures. ViT-B-32-256, which it replaces, saw them
  upsampled 16-fold in area to 256 pixels and cut into 8 × 8 patches of 32; at patch 8 the 64-pixel picture
  itself gives the same 8 × 8 patches to the same transformer, with no upsampling. The text context is 32 tokens
  (every text of the world is under 20). The name follows open_clip's ``ViT-<size>-<patch>-<pixels>`` and keeps
  the ``mmpaper-`` prefix of the package's own configs, so it is never taken for a published open_clip model.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

TINY_CLIP = "mmpaper-tiny-clip"
GPU_CLIP = "mmpaper-ViT-B-8-64"  # the gpu preset's stage-0 CLIP (see the module docstring)
_CLIP_CONFIG_DIR = Path(__file__).parent / "clip_configs"
# CLIP's published pixel statistics; the tiny model is trained with the same ones so real and tiny paths agree.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


# --------------------------------------------------------------------------------------------------- BiBERT
@dataclass
class BiBERTConfig:
    vocab_size: int = 2000          # WordPiece vocabulary, trained on the catalog's titles and queries
    hidden_size: int = 64           # BERT width
    num_layers: int = 2             # the paper: 2 transformer layers
    num_heads: int = 4              # the paper: 4 attention heads
    intermediate_size: int = 128    # feed-forward width
    max_length: int = 24            # tokens per query or title (longer text is truncated)
    embed_dim: int = 64             # output of the per-tower projection layer
    dropout: float = 0.0            # BERT dropout; 0 keeps a resumed run bit-identical to an uninterrupted one


def train_wordpiece(texts: Iterable[str], vocab_size: int, *, word_share: float = 0.5):
    """A lower-cased WordPiece vocabulary over ``texts``, wrapped as a ``transformers`` tokenizer.

    Built deterministically from counts, with the ``tokenizers`` normaliser and pre-tokeniser of BERT:

    1. the special tokens, then every character in whole-word and ``##`` continuation form (nothing is [UNK]);
    2. whole words, most frequent first, up to ``word_share`` of the room left;
    3. subword pieces, by how many word occurrences they cover: word-initial prefixes (length >= 3) and
       ``##`` continuations that end a word (length 2-5). These give a misspelt word the pieces of the word it
       was meant to be (``sneakrs`` -> ``sneak ##rs``), the subword sharing WordPiece exists for.

    Ties are broken alphabetically. ``tokenizers``' own WordPiece trainer is not used because it breaks ties
    between equally frequent merges in hash order, which differs between processes, so the same seed would not
    give the same vocabulary (and numbers) twice. Tokenisation is ``tokenizers``' WordPiece (greedy longest
    match from the start of each word).
    """
    from collections import Counter

    from tokenizers import BertWordPieceTokenizer
    from tokenizers.normalizers import BertNormalizer
    from tokenizers.pre_tokenizers import BertPreTokenizer
    from transformers import BertTokenizerFast

    normalizer, pre = BertNormalizer(lowercase=True), BertPreTokenizer()
    words: Counter = Counter()
    for text in texts:
        words.update(w for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(text)))
    chars = sorted({c for w in words for c in w})
    vocab = list(SPECIAL_TOKENS) + chars + [f"##{c}" for c in chars]
    room = max(vocab_size - len(vocab), 0)
    ranked_words = [w for w, n in sorted(words.items(), key=lambda kv: (-kv[1], kv[0])) if len(w) > 1 and n > 1]
    vocab += ranked_words[: int(room * word_share)]
    pieces: Counter = Counter()
    for w, n in words.items():
        if not w.isalpha() or len(w) < 4:
            continue
        for i in range(3, len(w)):
            pieces[w[:i]] += n
        for i in range(max(1, len(w) - 5), len(w) - 1):
            pieces["##" + w[i:]] += n
    taken = set(vocab)
    room = max(vocab_size - len(vocab), 0)
    vocab += [p for p, _ in sorted(pieces.items(), key=lambda kv: (-kv[1], kv[0])) if p not in taken][:room]
    wordpiece = BertWordPieceTokenizer({t: i for i, t in enumerate(vocab)}, lowercase=True)
    return BertTokenizerFast(tokenizer_object=wordpiece._tokenizer, unk_token="[UNK]", pad_token="[PAD]",
                             cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]", do_lower_case=True)


def share_all_but_layernorm(target: nn.Module, source: nn.Module) -> None:
    """Make every leaf module of ``target`` except its LayerNorms the same object as ``source``'s."""
    for name, module in list(target.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.LayerNorm) or len(list(child.children())) > 0:
                continue
            qualified = f"{name}.{child_name}" if name else child_name
            setattr(module, child_name, source.get_submodule(qualified))


class BiBERT(nn.Module):
    """The text-only two-tower baseline: ``f_q(q)`` and ``f_d(d_text)``, mean-pooled BERT + projection."""

    def __init__(self, config: BiBERTConfig, tokenizer=None):
        super().__init__()
        from transformers import BertConfig, BertModel

        self.config = config
        self.tokenizer = tokenizer
        bert_config = BertConfig(vocab_size=config.vocab_size, hidden_size=config.hidden_size,
                                 num_hidden_layers=config.num_layers, num_attention_heads=config.num_heads,
                                 intermediate_size=config.intermediate_size,
                                 max_position_embeddings=max(config.max_length, 8), type_vocab_size=1,
                                 hidden_dropout_prob=config.dropout, attention_probs_dropout_prob=config.dropout)
        self.query_bert = BertModel(bert_config, add_pooling_layer=False)
        self.product_bert = BertModel(bert_config, add_pooling_layer=False)
        share_all_but_layernorm(self.product_bert, self.query_bert)
        self.query_projection = nn.Linear(config.hidden_size, config.embed_dim)
        self.product_projection = nn.Linear(config.hidden_size, config.embed_dim)

    @property
    def embed_dim(self) -> int:
        return self.config.embed_dim

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        if self.tokenizer is None:
            raise RuntimeError("BiBERT has no tokenizer: build it with BiBERT.from_texts(...) or BiBERT.load(dir)")
        enc = self.tokenizer(list(texts), padding="max_length", truncation=True,
                             max_length=self.config.max_length, return_tensors="pt")
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    @staticmethod
    def _pool(bert: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)

    def encode_query(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``f_q(q)``, not normalised."""
        return self.query_projection(self._pool(self.query_bert, input_ids, attention_mask))

    def encode_product(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``f_d(d_text)``, not normalised."""
        return self.product_projection(self._pool(self.product_bert, input_ids, attention_mask))

    @classmethod
    def from_texts(cls, texts: Iterable[str], config: BiBERTConfig | None = None) -> "BiBERT":
        config = config or BiBERTConfig()
        tokenizer = train_wordpiece(texts, config.vocab_size)
        config = BiBERTConfig(**{**asdict(config), "vocab_size": len(tokenizer)})
        return cls(config, tokenizer)

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "bibert_config.json").write_text(json.dumps(asdict(self.config), indent=2))
        torch.save(self.state_dict(), directory / "bibert.pt")
        if self.tokenizer is not None:
            self.tokenizer.save_pretrained(directory / "tokenizer")

    @classmethod
    def load(cls, directory: str | Path) -> "BiBERT":
        from transformers import BertTokenizerFast

        directory = Path(directory)
        config = BiBERTConfig(**json.loads((directory / "bibert_config.json").read_text()))
        tokenizer = BertTokenizerFast.from_pretrained(directory / "tokenizer")
        model = cls(config, tokenizer)
        model.load_state_dict(torch.load(directory / "bibert.pt", map_location="cpu", weights_only=True))
        return model


# ----------------------------------------------------------------------------------------------------- CLIP
def register_tiny_clip() -> None:
    """Register the package's open_clip configs (``clip_configs/*.json``; idempotent)."""
    import open_clip

    if not {p.stem for p in _CLIP_CONFIG_DIR.glob("*.json")} <= set(open_clip.list_models()):
        open_clip.add_model_config(_CLIP_CONFIG_DIR)


class CLIPTowers(nn.Module):
    """``g_t`` and ``g_i``: an ``open_clip`` model built by name with an optional pretrained tag or file.

    ``CLIPTowers("ViT-H-14", pretrained="dfn5b")`` is the paper's CLIP (downloads on first use);
    ``CLIPTowers(TINY_CLIP)`` is the offline stand-in; ``pretrained`` may also be a local checkpoint path.
    """

    def __init__(self, model_name: str = TINY_CLIP, pretrained: str | None = None):
        super().__init__()
        import open_clip

        register_tiny_clip()
        if model_name not in open_clip.list_models():
            raise ValueError(f"unknown CLIP model {model_name!r}; open_clip knows e.g. {open_clip.list_models()[:5]}")
        try:
            self.model = open_clip.create_model(model_name, pretrained=pretrained)
        except Exception as err:  # a download that cannot happen offline: say what to do instead
            raise RuntimeError(f"could not load CLIP {model_name!r} with pretrained={pretrained!r} ({err}); "
                               f"offline, pass a local checkpoint path or use {TINY_CLIP!r}") from err
        self.model_name = model_name
        self.pretrained = pretrained
        self._tokenizer = open_clip.get_tokenizer(model_name)
        size = self.model.visual.image_size
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        self.register_buffer("pixel_mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)

    @property
    def embed_dim(self) -> int:
        return int(self.model.text_projection.shape[1]) if hasattr(self.model, "text_projection") and \
            isinstance(self.model.text_projection, torch.Tensor) else int(self.model.visual.output_dim)

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        """open_clip tokens ``[N, context_length]``. Each distinct text is tokenised once (open_clip's tokenizer is
        pure Python, and captions and photo queries repeat a great deal)."""
        rows: dict[str, int] = {}
        index = torch.tensor([rows.setdefault(t, len(rows)) for t in texts], dtype=torch.long)
        return self._tokenizer(list(rows))[index]

    def prepare_images(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 ``[N, H, W, 3]`` (the world's storage format) or float ``[N, 3, H, W]`` in [0, 1] → model input."""
        if images.dtype == torch.uint8:
            images = images.permute(0, 3, 1, 2).float() / 255.0
        if images.shape[-1] != self.image_size:
            images = F.interpolate(images, size=(self.image_size, self.image_size), mode="bilinear",
                                   align_corners=False, antialias=True)
        return (images - self.pixel_mean) / self.pixel_std

    def encode_text(self, tokens: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        return self.model.encode_text(tokens, normalize=normalize)

    def encode_image(self, images: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        return self.model.encode_image(self.prepare_images(images), normalize=normalize)

    def freeze(self) -> "CLIPTowers":
        for p in self.parameters():
            p.requires_grad_(False)
        return self.eval()

    def save(self, path: str | Path) -> None:
        """A checkpoint that ``CLIPTowers(model_name, pretrained=path)`` loads through open_clip's own path."""
        torch.save(self.model.state_dict(), path)
