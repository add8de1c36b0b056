"""Approximate search and late interaction, measured.

* ANN: IVF-Flat and HNSW (``mmpaper.retrieval.search(index=...)``) against exact search on the same clustered
  embeddings: recall@100 of the exact top-100, search speed-up, build time.
* MaxSim, the late-interaction score the paper rejects as unscalable: per-query cost of scoring every product with
  ``Σ_i max_j q_i·d_j`` (multi-vector) against one cosine (single vector), and the memory it needs at paper scale.

    python benchmarks/bench_ann.py                         # 200,000 products (minutes)
    python benchmarks/bench_ann.py --products 20000 --queries 200 --maxsim-products 2000   # seconds
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402

from common import print_table, save, unit_rows  # noqa: E402

PAPER_PRODUCTS, PAPER_QUERIES = 3_384_067, 38_268


def ann(nb: int, nq: int, d: int, k: int) -> list[dict]:
    from mmpaper.retrieval import build_index, search

    products = unit_rows(nb, d, seed=0, clusters=1000)
    queries = unit_rows(nq, d, seed=1, clusters=1000)
    t0 = time.perf_counter()
    _, exact = search(queries, products, k, use_gpu=False)
    t_exact = time.perf_counter() - t0
    rows = [{"index": "flat (exact)", "setting": "", "build_s": 0.0, "search_s": t_exact, "speedup": 1.0,
             "recall@100 vs exact": 1.0}]
    for index, knob, values in [("ivf", "nprobe", (4, 16, 64)), ("hnsw", "efSearch", (128, 512))]:
        t0 = time.perf_counter()
        built = build_index(products, index)  # built once; the search-time knob is varied on it
        build = time.perf_counter() - t0
        for value in values:
            if index == "ivf":
                built.nprobe = value
            else:
                built.hnsw.efSearch = value
            t0 = time.perf_counter()
            _, ids = built.search(queries, k)
            search_s = time.perf_counter() - t0
            rec = np.mean([len(np.intersect1d(a, b)) / k for a, b in zip(ids, exact)])
            rows.append({"index": index, "setting": f"{knob}={value}", "build_s": build, "search_s": search_s,
                         "speedup": t_exact / search_s, "recall@100 vs exact": rec})
        del built
    return rows


def maxsim(nb: int, nq: int, d_single: int, d_token: int, q_tokens: int, d_tokens: int) -> list[dict]:
    import torch

    g = torch.Generator().manual_seed(0)
    single_p = torch.nn.functional.normalize(torch.randn(nb, d_single, generator=g), dim=1)
    single_q = torch.nn.functional.normalize(torch.randn(nq, d_single, generator=g), dim=1)
    multi_p = torch.nn.functional.normalize(torch.randn(nb, d_tokens, d_token, generator=g), dim=2)
    multi_q = torch.nn.functional.normalize(torch.randn(nq, q_tokens, d_token, generator=g), dim=2)
    flat_p = multi_p.reshape(nb * d_tokens, d_token)

    t0 = time.perf_counter()
    torch.topk(single_q @ single_p.T, 100, dim=1)
    t_cos = (time.perf_counter() - t0) / nq
    t0 = time.perf_counter()
    for q in multi_q:  # [q_tokens, d] against every product token, max over each product's tokens, sum over q
        s = (q @ flat_p.T).view(q_tokens, nb, d_tokens).amax(dim=2).sum(dim=0)
        torch.topk(s, 100)
    t_max = (time.perf_counter() - t0) / nq
    rows = []
    for name, t, bytes_per_product in [("cosine (one vector)", t_cos, d_single * 4),
                                       (f"MaxSim ({q_tokens}×{d_tokens} tokens of d={d_token})", t_max,
                                        d_tokens * d_token * 4)]:
        per_query_paper = t * PAPER_PRODUCTS / nb
        rows.append({"score": name, "ms per query": 1e3 * t, f"per query at {PAPER_PRODUCTS:,} products (s)":
                     per_query_paper, f"all {PAPER_QUERIES:,} queries (h)": per_query_paper * PAPER_QUERIES / 3600,
                     "index GiB at paper scale": bytes_per_product * PAPER_PRODUCTS / 2**30})
    rows[1]["× cosine"] = t_max / t_cos
    return rows


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--products", type=int, default=200_000)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--maxsim-products", type=int, default=20_000)
    ap.add_argument("--maxsim-queries", type=int, default=50)
    ap.add_argument("--out-dir", default=None)
    args = ap.parse_args(argv)
    rows = ann(args.products, args.queries, args.dim, 100)
    print_table(rows, f"ANN vs exact: {args.queries:,} queries × {args.products:,} clustered products, d = {args.dim}")
    ms = maxsim(args.maxsim_products, args.maxsim_queries, args.dim, 128, 8, 16)
    print_table(ms, f"MaxSim vs cosine, measured on {args.maxsim_products:,} products, extrapolated linearly")
    path = save("ann", {"ann": rows, "maxsim": ms, "products": args.products, "queries": args.queries,
                        "dim": args.dim, "maxsim_products": args.maxsim_products}, args.out_dir)
    print(f"\nwrote {path}")
    return {"ann": rows, "maxsim": ms}


if __name__ == "__main__":
    main()
