"""Write ``BENCHMARKS.md`` from ``benchmarks/results/*.json``: every table with the machine and date it ran on,
and each target as a ratio against its in-run baseline, marked met or not."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"


def _md(rows, cols=None) -> str:
    df = pd.DataFrame(rows)
    if cols:
        df = df[[c for c in cols if c in df.columns]]
    return df.to_markdown(index=False, floatfmt=".3g")


def _machine(m: dict) -> str:
    gpu = f", GPU {m['gpu']}" if m.get("gpu") else ", no GPU"
    return (f"*{m['date']} · {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB{gpu} · torch {m['torch']}, "
            f"faiss {m['faiss']}*")


def _met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def section_eval(r: dict) -> str:
    rows = r["rows"]
    out = [f"## Evaluation at paper scale\n\n{_machine(r['machine'])}\n"]
    nq = rows[0]["queries"]
    out.append(f"{nq:,} queries (of the paper's {r['paper_queries']:,}) × {rows[0]['products']:,} products, "
               f"top-100, {r['threads']} threads; measured matmul peak {r['matmul_gflops']:.0f} GFLOP/s. Each "
               f"method ran in its own process on the same arrays.\n")
    for row in rows:
        row["full eval s (× queries)"] = row["search_seconds"] * r["paper_queries"] / row["queries"]
    out.append(_md(rows, ["method", "d", "search_seconds", "full eval s (× queries)", "time_vs_faiss_flat",
                          "peak_over_products", "gflops", "fraction_of_matmul_peak", "same_top_k"]))
    mf = r["metrics_full"]
    ours = [x for x in rows if x["method"] == "mmpaper"]
    t = r["targets"]
    out.append("\n| target | measured | |\n|---|---|---|")
    for x in ours:
        out.append(f"| d={x['d']}: our search within {t['time_vs_faiss_flat']:.2f}× raw FAISS | "
                   f"{x['time_vs_faiss_flat']:.3f}× | {_met(x['time_vs_faiss_flat'] <= t['time_vs_faiss_flat'])} |")
        out.append(f"| d={x['d']}: peak memory under {t['peak_over_products']}× the product matrix | "
                   f"{x['peak_over_products']:.2f}× | {_met(x['peak_over_products'] <= t['peak_over_products'])} |")
    out.append(f"| metrics on {mf['queries']:,} × 100 under {t['metrics_seconds']} s | {mf['metrics_seconds']:.2f} s"
               f" | {_met(mf['metrics_seconds'] <= t['metrics_seconds'])} |")
    if nq < r["paper_queries"]:
        out.append(f"\nThe search ran on {nq:,} of the {r['paper_queries']:,} queries; exact search is linear in "
                   f"the query count, so the column \"full eval s\" scales it by {r['paper_queries'] / nq:.2f} "
                   f"(an extrapolation, not a measurement). `make bench-full` measures all of them.")
    return "\n".join(out)


def section_scaling(r: dict) -> str:
    return "\n".join([f"## Scaling of exact search\n\n{_machine(r['machine'])}\n",
                      _md(r["rows"]), "\n![scaling](benchmarks/results/scaling.png)"])


def section_ann(r: dict) -> str:
    return "\n".join([f"## ANN and MaxSim\n\n{_machine(r['machine'])}\n",
                      f"{r['queries']:,} queries × {r['products']:,} clustered products, d = {r['dim']}:\n",
                      _md(r["ann"]), f"\nMaxSim vs cosine, measured on {r['maxsim_products']:,} products and "
                      "extrapolated linearly to the paper's catalog:\n", _md(r["maxsim"])])


def section_rows(title: str, r: dict, note: str = "") -> str:
    out = [f"## {title}\n\n{_machine(r['machine'])}\n", _md(r["rows"])]
    if note:
        out.append(f"\n{note}")
    return "\n".join(out)


def main() -> int:
    found = {p.stem: json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))}
    if not found:
        print("no results in benchmarks/results; run `make bench` first", file=sys.stderr)
        return 1
    parts = ["# Benchmarks\n\nWritten by `benchmarks/summarize.py` from `benchmarks/results/*.json` (`make bench`). "
             "Every target is a ratio against a baseline measured in the same run, because these machines are "
             "noisy; the machine and date head each section.\n"]
    if "eval" in found:
        parts.append(section_eval(found["eval"]))
    if "eval-gpu" in found:
        parts.append(section_eval(found["eval-gpu"]).replace("## Evaluation at paper scale",
                                                             "## Evaluation at paper scale on a GPU"))
    if "scaling" in found:
        parts.append(section_scaling(found["scaling"]))
    if "ann" in found:
        parts.append(section_ann(found["ann"]))
    if "train" in found:
        r = found["train"]
        worst = max(x["Lightning / bare"] for x in r["rows"])
        parts.append(section_rows("Training step: Lightning against a bare PyTorch loop", r,
                                  f"Target: Lightning overhead under 10% — worst ratio {worst:.3f}, "
                                  f"{_met(worst <= r['targets']['Lightning / bare'])}."))
    if "embed" in found:
        parts.append(section_rows("Embedding throughput", found["embed"]))
    for name in sorted(n for n in found if n.startswith("book-")):
        r = found[name]
        parts.append(section_rows(f"Book build ({r['preset']})", r, "Targets: cold under 15 minutes, warm under "
                                  "1 minute (a clean-clone `make book` also creates `.venv`; see the README)."))
    (ROOT / "BENCHMARKS.md").write_text("\n\n".join(parts) + "\n")
    print(f"wrote {ROOT / 'BENCHMARKS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
