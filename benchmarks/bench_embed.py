"""Embedding throughput on this CPU: products per second through each tower (``mmpaper.retrieval.embed`` over
batches of 1024, no gradients), at the ``cpu`` preset's sizes. At paper scale (3,384,067 products) the product
side is embedded once per model; the column "paper-scale minutes" says how long that takes here.

    python benchmarks/bench_embed.py                       # ~1 minute
    python benchmarks/bench_embed.py --products 2048 --preset smoke   # seconds
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
import torch  # noqa: E402

from common import print_table, quiet, save  # noqa: E402

PAPER_PRODUCTS = 3_384_067


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--products", type=int, default=8192)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--out-dir", default=None)
    args = ap.parse_args(argv)
    quiet(all_warnings=False)
    from mmpaper.data.modules import TokenTable
    from mmpaper.experiments import Experiment
    from mmpaper.models import FourTowerMM
    from mmpaper.retrieval import embed
    from mmpaper.towers import BiBERT, CLIPTowers

    ex = Experiment(args.preset, progress=False)
    p, cat = ex.preset, ex.catalog
    n = min(args.products, len(cat.products))
    titles = cat.products["title"].tolist()[:n]
    torch.manual_seed(0)
    bibert = BiBERT.from_texts(titles, p.bibert).eval()
    clip = CLIPTowers(p.clip_model).freeze()
    tokens = TokenTable.build(bibert.tokenize, titles)
    clip_tokens = clip.tokenize(titles)
    images = np.asarray(cat.images[:n])
    feats = torch.nn.functional.normalize(torch.randn(n, clip.embed_dim), dim=1)
    four = FourTowerMM(bibert, None, "mlp", clip_dim=clip.embed_dim, out_dim=p.fused_dim).eval()
    bs = args.batch
    rows_of = lambda a: np.arange(a, min(a + bs, n))  # noqa: E731
    towers = [
        ("BiBERT product tower (title)", (lambda b: bibert.encode_product(b["product_input_ids"],
                                                                                 b["product_attention_mask"])),
         lambda: (tokens.rows(torch.as_tensor(rows_of(a)), "product") for a in range(0, n, bs))),
        ("CLIP image tower (32 px)" if p.clip_model.startswith("mmpaper") else f"CLIP image tower ({p.clip_model})",
         lambda b: clip.encode_image(b["x"]), lambda: ({"x": torch.from_numpy(images[a:a + bs])}
                                                       for a in range(0, n, bs))),
        ("CLIP text tower (title)", lambda b: clip.encode_text(b["x"]),
         lambda: ({"x": clip_tokens[a:a + bs]} for a in range(0, n, bs))),
        ("4tMM product (BiBERT + MLP, CLIP features given)", four.encode_products,
         lambda: ({**tokens.rows(torch.as_tensor(rows_of(a)), "product"), "product_clip": feats[a:a + bs]}
                  for a in range(0, n, bs))),
    ]
    rows = []
    for name, fn, batches in towers:
        embed(fn, batches(), progress=False)  # warm-up
        t0 = time.perf_counter()
        embed(fn, batches(), progress=False)
        sec = time.perf_counter() - t0
        rows.append({"tower": name, "products": n, "products/s": n / sec,
                     "paper-scale minutes": PAPER_PRODUCTS / (n / sec) / 60})
    print_table(rows, f"Embedding throughput, preset {args.preset}, batch {bs}, {torch.get_num_threads()} threads")
    path = save("embed", {"preset": args.preset, "rows": rows}, args.out_dir)
    print(f"\nwrote {path}")
    return {"rows": rows}


if __name__ == "__main__":
    main()
