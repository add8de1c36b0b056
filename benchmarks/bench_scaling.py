"""Scaling curve of exact search: time and peak memory of ``mmpaper.retrieval.search`` for 10^4 … 3.4·10^6
products at a fixed query count, with the FLOP count and the machine's measured matmul rate, so the reader sees
how close to the hardware ceiling search runs. Writes ``results/scaling.json`` and ``results/scaling.png``.

    python benchmarks/bench_scaling.py                                  # up to the paper's 3,384,067 products
    python benchmarks/bench_scaling.py --sizes 10000 30000 --queries 500 # seconds
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, matmul_gflops, print_table, run_worker, save  # noqa: E402

SIZES = [10_000, 30_000, 100_000, 300_000, 1_000_000, 3_384_067]


def main(argv=None) -> dict:
    import os

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=SIZES)
    ap.add_argument("--queries", type=int, default=4096)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--out-dir", default=None)
    args = ap.parse_args(argv)
    threads = os.cpu_count()
    rate = matmul_gflops()
    script = str(Path(__file__).with_name("bench_eval.py"))
    rows = []
    for n in args.sizes:
        r = run_worker(script, ["--worker", "mmpaper", "--queries", str(args.queries), "--products", str(n),
                                "--dims", str(args.dim), "--k", str(args.k), "--threads", str(threads)])
        rows.append({"products": n, "queries": args.queries, "d": args.dim, "seconds": r["search_seconds"],
                     "tflop": 2 * args.queries * n * args.dim / 1e12, "gflops": r["gflops"],
                     "fraction_of_matmul_peak": r["gflops"] / rate, "product_gib": r["product_bytes"] / 2**30,
                     "peak_over_products": r["peak_over_products"]})
        print(f"  {n:,} products: {r['search_seconds']:.2f} s", flush=True)
    print_table(rows, f"Exact search scaling, {args.queries:,} queries, d = {args.dim} "
                      f"(matmul peak {rate:.0f} GFLOP/s, {threads} threads)")
    out = Path(args.out_dir or RESULTS)
    path = save("scaling", {"matmul_gflops": rate, "threads": threads, "rows": rows}, out)
    plot(rows, rate, out / "scaling.png")
    print(f"\nwrote {path} and {out / 'scaling.png'}")
    return {"rows": rows}


def plot(rows, rate, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [r["products"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    axes[0].loglog(n, [r["seconds"] for r in rows], "o-", label="mmpaper search (measured)")
    axes[0].loglog(n, [r["tflop"] * 1e3 / rate for r in rows], "--", color="grey",
                   label=f"FLOPs / matmul peak ({rate:.0f} GFLOP/s)")
    axes[0].set_xlabel("products")
    axes[0].set_ylabel(f"seconds for {rows[0]['queries']:,} queries")
    axes[0].legend(fontsize=8)
    axes[0].set_title("time")
    axes[1].semilogx(n, [100 * r["fraction_of_matmul_peak"] for r in rows], "o-", label="search rate / matmul peak")
    axes[1].set_ylim(0, 110)
    axes[1].set_xlabel("products")
    axes[1].set_ylabel("% of matmul peak")
    ax2 = axes[1].twinx()
    ax2.semilogx(n, [r["peak_over_products"] for r in rows], "s--", color="tab:red", label="peak memory / products")
    ax2.set_ylabel("peak memory / product matrix", color="tab:red")
    ax2.set_ylim(0, max(2.0, max(r["peak_over_products"] for r in rows) * 1.1))
    axes[1].set_title("efficiency and memory")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
