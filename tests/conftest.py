"""Shared fixtures: tiny towers built once per session (sentence-transformers' habit)."""
import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # make test runs one pytest worker per core (pytest-xdist; each test file on one worker, so a module's or the
    # smoke book's fixture is built once): each worker, and every process a test starts (papermill's kernels, the
    # CLI, DDP's ranks), gets one thread, since torch processes with their default threads on the same cores slow
    # each other many times over
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"

import pytest
import torch

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)

TEXTS = ["red cotton shirt", "blue denim jeans slim fit", "running shoes for men", "ceramic coffee mug",
         "striped wool scarf", "green plastic water bottle", "black leather wallet", "yellow rain jacket"] * 4


@pytest.fixture(scope="session")
def bibert():
    from mmpaper.towers import BiBERT, BiBERTConfig

    torch.manual_seed(0)
    return BiBERT.from_texts(TEXTS, BiBERTConfig(vocab_size=300, hidden_size=32, intermediate_size=64,
                                                 embed_dim=16, max_length=12))


@pytest.fixture(scope="session")
def clip():
    from mmpaper.towers import CLIPTowers

    torch.manual_seed(0)
    return CLIPTowers()


@pytest.fixture()
def batch(bibert, clip):
    texts = TEXTS[:6]
    q = bibert.tokenize(texts)
    d = bibert.tokenize(texts[::-1])
    g = torch.Generator().manual_seed(0)
    return {"query_input_ids": q["input_ids"], "query_attention_mask": q["attention_mask"],
            "query_clip_tokens": clip.tokenize(texts),
            "product_input_ids": d["input_ids"], "product_attention_mask": d["attention_mask"],
            "product_image": torch.randint(0, 256, (6, 32, 32, 3), dtype=torch.uint8, generator=g)}


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory):
    from mmpaper.book import build

    root = tmp_path_factory.mktemp("book")
    os.environ.setdefault("MMPAPER_CACHE", str(root / "cache"))
    return build("smoke", runs_dir=root / "runs", out=root / "out", progress=False)
