"""An estimate, not a measurement: the gpu study's seconds on one H200 and the colab chapters' on a T4, from the
arithmetic each stage must do and stated rates. It sized the gpu preset; ``make bench-gpu``'s measured stage table
replaces it once it has run on a GPU.

    python benchmarks/estimate_gpu.py              # generates the worlds (the gpu one at --scale) to count samples

Arithmetic: each tower's forward FLOP per sample counted by ``torch.utils.flop_counter.FlopCounterMode`` at the
preset's shapes (texts at the batch-maximum lengths the world's texts give: BiBERT titles 16 and queries 12 tokens;
the CLIP text context), a training step three times its forward (a frozen tower: its forward only). Samples are
counted on the worlds themselves (the gpu world generated at ``--scale`` and scaled up: every count is linear in
its sizes). Every trained row is charged its full epoch budget (early stopping can only shorten it).

Rates: the H200's bf16 matrix rate measured on this workplace's machines (788 TFLOP/s on 8192³ products,
.library/device/KINDS.md) at an assumed model-level efficiency (40% for the ViT-B CLIP at batch 1024, 25% for the
2-layer BiBERT, whose matrices are smaller); the T4's published 65 TFLOP/s (fp16 tensor cores) and 8.1 TFLOP/s
(fp32), at 50%. The colab preset's models are so small that kernel launches and the host bound it, not arithmetic:
its T4 estimate is the time measured on one H200 (issue 23) times an assumed host factor (Colab's two vCPUs against
the H200 machine's host) plus its arithmetic at the T4's fp32 rate.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

H200_BF16 = 788e12          # measured dense bf16 matrix rate (KINDS.md, 2026-10-28 and 2026-11-04)
EFFICIENCY = {"vit": 0.40, "bibert": 0.25, "t4": 0.5}  # assumed share of the rate a whole training step reaches
T4_FP16, T4_FP32 = 65e12, 8.1e12  # published
COLAB_H200_SECONDS = {"world": 7.0, "stage 0": 60.0, "14 variants": 150.0}  # measured (issue 23)
COLAB_HOST_FACTOR = 1.5     # assumed: Colab's 2 vCPUs against the H200 machine's host, for launch-bound work
SIZES = ("n_products", "n_train_queries", "n_eval_queries", "n_captions", "n_query_photos", "n_train_photos")


def forward_flops(fn, *args) -> float:
    """FLOP of ``fn(*args)`` (a forward pass) counted by torch's FlopCounterMode."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn(*args)
    return float(counter.get_total_flops())


def tower_flops(preset_name: str) -> dict[str, float]:
    """Forward FLOP per sample of each tower at a preset's shapes (a batch of 2, halved)."""
    import torch

    from mmpaper.data.world import world_config
    from mmpaper.presets import PRESETS
    from mmpaper.towers import BiBERT, CLIPTowers

    p = PRESETS[preset_name]
    size = world_config(p.world).image_size
    clip = CLIPTowers(p.clip_model).train()  # train mode: in eval, attention takes a fused path the counter misses
    images = torch.randint(0, 256, (2, size, size, 3), dtype=torch.uint8)
    tokens = clip.tokenize(["a photo of a striped red mug"] * 2)
    bibert = BiBERT.from_texts([f"red cotton shirt {i}" for i in range(64)], p.bibert).train()

    def text(n):
        ids = torch.full((2, min(n, p.bibert.max_length)), 5)
        return forward_flops(bibert.encode_query, ids, torch.ones_like(ids)) / 2

    return {"vision": forward_flops(clip.encode_image, images) / 2,
            "clip text": forward_flops(clip.encode_text, tokens) / 2,
            "bibert query": text(12), "bibert title": text(16)}


def counts(preset_name: str, scale: float = 1.0) -> dict[str, float]:
    """The sample counts of a preset's world, from the world generated at ``scale`` and scaled up."""
    from mmpaper.data.world import generate_world, world_config
    from mmpaper.presets import PRESETS

    name = PRESETS[preset_name].world
    full = world_config(name)
    world = generate_world(world_config(name, **{k: max(1, int(getattr(full, k) * scale)) for k in SIZES}))
    p = world.purchases
    train_q = p.loc[p["split"] == "train", "query_id"].nunique()
    return {"products": full.n_products, "captions": full.n_captions,
            "train photos": min(full.n_train_photos, full.n_products - full.n_query_photos),
            "eval photos": full.n_query_photos, "queries": len(world.queries) / scale,
            "train pairs": 0.9 * (p["split"] == "train").sum() / scale,  # 10% of train queries held out
            "validation queries": 0.1 * train_q / scale,
            "eval queries": p.loc[p["split"] == "eval", "query_id"].nunique() / scale}


def estimate(preset_name: str, n: dict[str, float], f: dict[str, float]) -> list[dict]:
    """Per stage: FLOP on the CLIP side and on the BiBERT side."""
    from mmpaper.paper import variant, variant_names
    from mmpaper.presets import PRESETS

    p = PRESETS[preset_name]
    rows = []

    def row(stage, vit=0.0, bert=0.0):
        rows.append({"stage": stage, "vit": vit, "bert": bert})

    row("stage 0: CLIP pretraining", vit=3 * n["captions"] * p.clip_epochs * (f["vision"] + f["clip text"]))
    row("stage 0: frozen features", vit=n["products"] * f["vision"] + n["queries"] * f["clip text"])
    catalog = n["products"] * f["bibert title"]
    validate = catalog + n["validation queries"] * f["bibert query"]
    evaluate = catalog + n["eval queries"] * f["bibert query"]
    for name in variant_names("table2"):
        v = variant(name)
        bert = evaluate
        if v.trains:
            negs = p.n_seen_negatives if v.seen_negatives else 0
            step = f["bibert query"] + (1 + negs) * f["bibert title"]
            tuned = v.model == "bibert" or v.tune_bibert
            bert += n["train pairs"] * p.max_epochs * step * (3 if tuned else 1) + p.max_epochs * validate
        if v.fusion == "acat":
            bert += len(p.alpha_grid) * validate
        row(name, bert=bert)
    for name in variant_names("visual"):
        texts = {"img2img": 0, "3tower": 1, "4tower": 2}[name.removeprefix("vs-")]
        step = 2 * f["vision"] + texts * f["clip text"]
        row(name, vit=3 * n["train photos"] * p.vs_epochs * step + (n["products"] + n["eval photos"]) * f["vision"])
    return rows


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=0.1, help="the gpu world generated at this scale to count")
    ap.add_argument("--out-dir", default=None)
    args = ap.parse_args(argv)
    from common import print_table, quiet, save

    quiet(all_warnings=False)

    n_gpu, f_gpu = counts("gpu", args.scale), tower_flops("gpu")
    rows = []
    for r in estimate("gpu", n_gpu, f_gpu):
        seconds = r["vit"] / (H200_BF16 * EFFICIENCY["vit"]) + r["bert"] / (H200_BF16 * EFFICIENCY["bibert"])
        rows.append({"stage": r["stage"], "PFLOP": (r["vit"] + r["bert"]) / 1e15, "H200 s (arithmetic)": seconds})
    gpu_seconds = sum(r["H200 s (arithmetic)"] for r in rows)
    n_cpu, f_cpu = counts("colab"), tower_flops("colab")
    colab_flop = sum(r["vit"] + r["bert"] for r in estimate("colab", n_cpu, f_cpu))
    colab_t4 = {"measured on one H200 (s)": sum(COLAB_H200_SECONDS.values()),
                "host factor (assumed)": COLAB_HOST_FACTOR, "arithmetic (TFLOP)": colab_flop / 1e12,
                "arithmetic at T4 fp32 (s)": colab_flop / (T4_FP32 * EFFICIENCY["t4"])}
    colab_t4["T4 estimate (s)"] = colab_t4["measured on one H200 (s)"] * COLAB_HOST_FACTOR + \
        colab_t4["arithmetic at T4 fp32 (s)"]
    print_table(rows, "Estimated arithmetic of the gpu study on one H200 (bf16)")
    print(f"\narithmetic total {gpu_seconds:.0f} s; colab on a T4: {colab_t4}")
    path = save("gpu-estimate", {"counts": n_gpu, "tower_gflop": {k: v / 1e9 for k, v in f_gpu.items()},
                                 "rows": rows, "arithmetic_seconds": gpu_seconds,
                                 "rates": {"h200_bf16": H200_BF16, "efficiency": EFFICIENCY, "t4_fp16": T4_FP16,
                                           "t4_fp32": T4_FP32},
                                 "colab_counts": n_cpu, "colab_tower_gflop": {k: v / 1e9 for k, v in f_cpu.items()},
                                 "colab_t4": colab_t4}, args.out_dir)
    print(f"wrote {path}")
    return {"rows": rows, "counts": n_gpu, "colab_t4": colab_t4}


if __name__ == "__main__":
    main()
