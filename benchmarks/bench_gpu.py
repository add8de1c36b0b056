"""The gpu study on one GPU, stage by stage (``make bench-gpu``): the world, stage 0 (the CLIP and its frozen
features), the 11 Table 2 variants, the 3 visual-search variants and the tables, each timed, with samples per
second, GPU utilisation (``torch.cuda.utilization``, else ``nvidia-smi``, sampled every half second) and peak GPU
memory; a short profile first (the stage-0 CLIP step and the BiBERT step at the preset's shapes: ms per step in
float32 and in the preset's mixed precision, deterministic kernels on and off, and the operators that take the
GPU's time). Prints a table and writes ``benchmarks/results/gpu-<device>.json``.

    python benchmarks/bench_gpu.py                    # needs CUDA; says so and exits 0 without it
    python benchmarks/bench_gpu.py --budget 540       # stop starting stages after 540 s (default)
    python benchmarks/bench_gpu.py --install          # first pip-install what the study needs and is missing
    python benchmarks/bench_gpu.py --smoke            # the same stages at smoke scale on the CPU (the tests)

A stage that has started runs to its end; stages that would start after the budget are listed as skipped. The
runs go to a fresh directory (``--runs-dir``), so every stage is measured cold.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# what the study imports beyond torch, Lightning, transformers, pandas, scipy and pyarrow (a GPU machine's usual
# set), by their names in pyproject.toml's dependencies
STUDY_REQUIREMENTS = ("open_clip_torch", "faiss-cpu", "bm25s", "filelock", "tokenizers", "tqdm", "tabulate")


# ------------------------------------------------------------------------------------------ installing
def _requirements() -> list[str]:
    """pyproject.toml's dependencies (tomllib, or a plain reading of the list before Python 3.11)."""
    text = (ROOT / "pyproject.toml").read_text()
    try:
        import tomllib

        return tomllib.loads(text)["project"]["dependencies"]
    except ImportError:
        block = re.search(r"^dependencies = \[(.*?)^\]", text, re.S | re.M).group(1)
        return re.findall(r'"([^"]+)"', block)


def study_requirements(names=STUDY_REQUIREMENTS) -> list:
    """The study's requirements as pyproject.toml states them (``packaging`` Requirement objects)."""
    from packaging.requirements import Requirement

    wanted = {n.lower().replace("_", "-") for n in names}
    return [r for r in map(Requirement, _requirements()) if r.name.lower().replace("_", "-") in wanted]


def missing_requirements(names=STUDY_REQUIREMENTS) -> list[str]:
    """The study's requirements (pyproject's specifiers) that are absent or at an unsuitable version."""
    from importlib import metadata

    out = []
    for req in study_requirements(names):
        try:
            ok = req.specifier.contains(metadata.version(req.name), prereleases=True)
        except metadata.PackageNotFoundError:
            ok = False
        if not ok:
            out.append(str(req))
    return out


def install(pip_args: list[str]) -> int:
    todo = missing_requirements()
    if not todo:
        print("the study's requirements are all installed")
        return 0
    cmd = [sys.executable, "-m", "pip", "install", "-q", *pip_args, *todo]
    print("$", " ".join(cmd), flush=True)
    return subprocess.run(cmd).returncode


# ------------------------------------------------------------------------------------------ the GPU's load
class GPUMonitor(threading.Thread):
    """Samples GPU utilisation (%) every ``interval`` seconds: ``torch.cuda.utilization`` (NVML), else
    ``nvidia-smi``; nothing on a machine without CUDA."""

    def __init__(self, interval: float = 0.5):
        super().__init__(daemon=True)
        self.interval, self.samples, self._stop_event = interval, [], threading.Event()
        self.source = None

    def _read(self) -> float | None:
        import torch

        if self.source in (None, "nvml"):
            try:
                value = float(torch.cuda.utilization())
                self.source = "nvml"
                return value
            except Exception:  # noqa: BLE001 - no pynvml / NVML: try nvidia-smi
                self.source = "nvidia-smi"
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True, timeout=5).stdout.split()
            return float(out[0]) if out else None
        except (OSError, ValueError, subprocess.SubprocessError):
            return None

    def run(self):
        import torch

        if not torch.cuda.is_available():
            return
        while not self._stop_event.is_set():
            value = self._read()
            if value is not None:
                self.samples.append((time.perf_counter(), value))
            self._stop_event.wait(self.interval)

    def stop(self):
        self._stop_event.set()

    def mean(self, t0: float, t1: float) -> float | None:
        window = [v for t, v in self.samples if t0 <= t <= t1]
        return sum(window) / len(window) if window else None

    def busy_share(self, t0: float, t1: float) -> float | None:
        window = [v for t, v in self.samples if t0 <= t <= t1]
        return sum(v > 0 for v in window) / len(window) if window else None


# ------------------------------------------------------------------------------------------ presets
def smoke_preset():
    """The gpu preset's settings (mixed precision, worker loaders, a world of 64-px pictures rendered in blocks)
    at smoke scale on the CPU: the smoke world's sizes and models, so the tests run every stage in seconds."""
    from mmpaper.data.world import WORLD_PRESETS
    from mmpaper.presets import PRESETS

    smoke_world = WORLD_PRESETS["smoke"]
    sizes = ("n_products", "n_train_queries", "n_eval_queries", "n_captions", "n_query_photos", "n_train_photos",
             "n_brands")
    small = PRESETS["smoke"]
    return replace(PRESETS["gpu"], name="gpu-smoke", accelerator="cpu", bibert=small.bibert,
                   clip_model=small.clip_model, clip_epochs=1, max_epochs=1, vs_epochs=1, batch_size=64,
                   clip_batch_size=128, vs_batch_size=64, fused_dim=small.fused_dim, patience=None,
                   alpha_grid=(0.3, 0.5), world_settings=tuple((k, getattr(smoke_world, k)) for k in sizes))


# ------------------------------------------------------------------------------------------ the profile
def _clip_batch(clip, n: int, size: int, seed: int = 0):
    import torch

    g = torch.Generator().manual_seed(seed)
    return {"image": torch.randint(0, 256, (n, size, size, 3), dtype=torch.uint8, generator=g),
            "text": clip.tokenize([f"a photo of a {c} thing" for c in ("red", "blue", "striped", "plain") * (n // 4)]
                                  + ["a photo"] * (n % 4))}


def _pair_batch(bibert, n: int, seed: int = 0):
    import torch

    g = torch.Generator().manual_seed(seed)
    words = ["red", "cotton", "shirt", "slim", "fit", "blue", "denim", "jeans", "mug", "ceramic", "striped", "wool"]
    idx = torch.randint(0, len(words), (2 * n, 6), generator=g).tolist()
    texts = [" ".join(words[i] for i in row) for row in idx]
    q, d = bibert.tokenize(texts[:n]), bibert.tokenize(texts[n:])
    return {"query_input_ids": q["input_ids"], "query_attention_mask": q["attention_mask"],
            "product_input_ids": d["input_ids"], "product_attention_mask": d["attention_mask"]}


def _loss(system, batch):
    """The system's training loss on a batch, without a Trainer (what its training_step computes)."""
    from mmpaper.losses import nt_xent, symmetric_nt_xent
    from mmpaper.train import CLIPPretrainSystem

    if isinstance(system, CLIPPretrainSystem):
        return symmetric_nt_xent(system.clip.encode_image(batch["image"]), system.clip.encode_text(batch["text"]),
                                 system.temperature)
    return nt_xent(system.model.encode_queries(batch), system.model.encode_products(batch), system.temperature)


def _time_steps(system, batch, device, precision: str, deterministic: bool, steps: int, warmup: int) -> float:
    """Median milliseconds of an optimiser step (forward, backward, update) of ``system`` on one fixed batch,
    under Lightning's precision plugin semantics (autocast + a loss scaler for fp16)."""
    import statistics

    import torch

    from mmpaper.train import autocast_dtype

    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.benchmark = not deterministic
    system = system.to(device).train()
    batch = {k: v.to(device) for k, v in batch.items()}
    opt = torch.optim.AdamW([p for p in system.parameters() if p.requires_grad], lr=1e-5)
    dtype = autocast_dtype(precision)
    scaler = torch.amp.GradScaler("cuda") if precision == "16-mixed" else None
    times = []
    for i in range(warmup + steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = _loss(system, batch)
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    torch.use_deterministic_algorithms(False)
    return 1e3 * statistics.median(times)


def _top_ops(system, batch, device, precision: str, steps: int = 3, top: int = 8) -> dict:
    """One torch.profiler pass: the operators with the most device (CUDA) time, else CPU time, and the share of
    the wall time the device was busy."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from mmpaper.train import autocast_dtype

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    dtype = autocast_dtype(precision)
    opt = torch.optim.AdamW([p for p in system.parameters() if p.requires_grad], lr=1e-5)
    batch = {k: v.to(device) for k, v in batch.items()}
    t0 = time.perf_counter()
    with profile(activities=activities) as prof:
        for i in range(steps):
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                loss = _loss(system, batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    events = prof.key_averages()
    key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    total = sum(getattr(e, key, 0) for e in events) or 1
    rows = sorted(events, key=lambda e: getattr(e, key, 0), reverse=True)[:top]
    return {"device_busy_share": (total / 1e6) / wall if device.type == "cuda" else None,
            "ops": [{"op": e.key, "share": getattr(e, key, 0) / total, "ms": getattr(e, key, 0) / 1e3 / steps}
                    for e in rows]}


def profile_steps(preset, device, smoke: bool) -> dict:
    """ms per step of the stage-0 CLIP and the BiBERT (joint, seen negatives off) at the preset's shapes: float32
    and the preset's precision, deterministic kernels on and off; then where the time of one such step goes."""
    import torch

    from mmpaper.data.world import world_config
    from mmpaper.models import BiBERTRetriever
    from mmpaper.towers import BiBERT, CLIPTowers
    from mmpaper.train import CLIPPretrainSystem, RetrievalSystem, resolve_precision

    steps, warmup = (2, 1) if smoke else (10, 3)
    mixed = resolve_precision(preset.precision, device)
    size = world_config(preset.world, **dict(preset.world_settings)).image_size
    clip_n = 8 if smoke else preset.clip_batch_size
    pair_n = 8 if smoke else preset.batch_size
    torch.manual_seed(0)
    clip = CLIPTowers(preset.clip_model)
    texts = [f"red cotton shirt {i}" for i in range(64)]
    bibert = BiBERT.from_texts(texts, preset.bibert)
    setups = {
        "stage-0 CLIP": (lambda: CLIPPretrainSystem(clip, lr=preset.lr_clip), _clip_batch(clip, clip_n, size), clip_n),
        "BiBERT": (lambda: RetrievalSystem(BiBERTRetriever(bibert), lr=preset.lr_bibert), _pair_batch(bibert, pair_n),
                   pair_n),
    }
    rows, ops = [], {}
    for name, (make, batch, n) in setups.items():
        for precision in dict.fromkeys(["32-true", mixed]):
            for deterministic in (True, False):
                ms = _time_steps(make(), batch, device, precision, deterministic, steps, warmup)
                rows.append({"step": name, "batch": n, "precision": precision, "deterministic": deterministic,
                             "ms/step": ms, "samples/s": n / ms * 1e3})
        ops[name] = _top_ops(make().to(device).train(), batch, device, mixed, steps=2 if smoke else 3)
    return {"rows": rows, "top_ops": ops, "precision": mixed}


# ------------------------------------------------------------------------------------------ the study
def study(preset, runs_dir: Path, cache_dir: Path, budget: float, variants: list[str], monitor: GPUMonitor,
          progress: bool = False, loader_batches: int = 0, on_stage=None) -> tuple[list[dict], dict]:
    """Every stage timed; ``on_stage(rows)`` after each one, so a run stopped from outside (a machine's time
    limit) keeps the stages it finished."""
    import torch

    from mmpaper.experiments import Experiment
    from mmpaper.paper import variant, variant_names
    from mmpaper.report.tables import write_tables

    ex = Experiment(preset, runs_dir=runs_dir, cache_dir=cache_dir, progress=progress)
    cuda = ex.device.type == "cuda"
    start = time.perf_counter()
    rows = []

    def stage(name: str, fn, samples=None, unit: str = "") -> None:
        elapsed = time.perf_counter() - start
        if elapsed > budget:
            rows.append({"stage": name, "seconds": None, "note": f"skipped: {elapsed:.0f} s > budget {budget:.0f} s"})
            print(f"  {name:22s} skipped (over budget)", flush=True)
            return
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        result = fn()
        if cuda:
            torch.cuda.synchronize()
        t1 = time.perf_counter()
        n = samples(result) if samples else None
        row = {"stage": name, "seconds": t1 - t0, "samples": n, "unit": unit,
               "samples/s": n / (t1 - t0) if n else None,
               "gpu util %": monitor.mean(t0, t1), "gpu busy share": monitor.busy_share(t0, t1),
               "peak GiB": torch.cuda.max_memory_allocated() / 2**30 if cuda else None}
        if isinstance(result, dict):
            row.update({k: v for k, v in result.items() if k in ("train_seconds", "epochs", "eval_seconds")})
        rows.append(row)
        if on_stage:
            on_stage(rows)
        print(f"  {name:22s} {row['seconds']:8.1f} s" + (f"  {row['samples/s']:10.0f} {unit}/s" if n else ""),
              flush=True)

    cfg = ex.world_config()
    stage("world", lambda: ex.catalog,
          lambda _: cfg.n_products + cfg.n_captions + min(cfg.n_query_photos + cfg.n_train_photos, cfg.n_products),
          "images")

    def stage0():
        ex.clip_features()
        from mmpaper.fsio import read_json

        record = ex.clip_dir() / "stage.json"
        return read_json(record) if record.exists() else {}

    loader, loader_seconds = None, 0.0
    if loader_batches:  # on this host: batches per second in the main process and in worker processes
        import bench_gpu_host

        t0 = time.perf_counter()
        loader = bench_gpu_host.pipeline_rows(ex.catalog, loader_batches)
        loader_seconds = time.perf_counter() - t0
        rows.append({"stage": "input pipeline (measured apart)", "seconds": loader_seconds,
                     "note": "not part of the study's total"})
    stage("stage 0 (CLIP)", stage0, lambda r: len(ex.catalog.captions) * max(r.get("epochs", 0), 0), "captions")
    train_pairs = {}

    def pairs(seen: bool) -> int:
        if seen not in train_pairs:
            train_pairs[seen] = len(ex._datamodule(seen=seen).train_pairs)
        return train_pairs[seen]

    for name in variants:
        v = variant(name)

        def one(name=name):
            return {**ex.run(name).metrics}

        if v.visual:
            n_train = int((ex.catalog.photos["split"] == "train").sum())
            samples, unit = (lambda m, n_train=n_train: n_train * m.get("epochs", 0)), "photos"
        elif v.trains:
            samples, unit = (lambda m, v=v: pairs(v.seen_negatives) * m.get("epochs", 0)), "pairs"
        else:
            samples, unit = (lambda m: m.get("n_queries", 0)), "queries"
        stage(name, one, samples, unit)
    if set(variant_names("table2")) <= set(variants):
        stage("tables", lambda: write_tables(ex))
    else:
        rows.append({"stage": "tables", "seconds": None, "note": "needs every Table 2 variant"})
    total = time.perf_counter() - start - loader_seconds  # the study alone
    return rows, {"total_seconds": total, "precision": ex.precision, "torch_device": str(ex.device), "loader": loader,
                  "world": {k: getattr(cfg, k) for k in ("n_products", "n_train_queries", "n_eval_queries",
                                                         "n_captions", "n_train_photos", "n_query_photos",
                                                         "image_size", "image_streams")}}


def main(argv=None) -> int:

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=float, default=540.0, help="seconds after which no stage starts (default 540)")
    ap.add_argument("--smoke", action="store_true", help="the stages at smoke scale on the CPU (tests)")
    ap.add_argument("--variants", default="table2,visual", help="variants after stage 0 (default table2,visual)")
    ap.add_argument("--no-profile", action="store_true", help="skip the step profile")
    ap.add_argument("--loader-batches", type=int, default=20,
                    help="batches per loader in the input-pipeline measurement (0: none)")
    ap.add_argument("--install", action="store_true", help="pip-install the study's missing requirements, then stop")
    ap.add_argument("--list-requirements", action="store_true", help="print the study's requirements and stop")
    ap.add_argument("--pip-args", default="", help='extra pip arguments, e.g. "--no-index --find-links .whl"')
    ap.add_argument("--runs-dir", default=None, help="default: a fresh temporary directory")
    ap.add_argument("--cache-dir", default=None, help="world cache (default: beside the runs)")
    ap.add_argument("--out-dir", default=None)
    args = ap.parse_args(argv)
    if args.list_requirements:
        print(" ".join(str(r) for r in study_requirements()))
        return 0
    if args.install:
        return install(args.pip_args.split())

    import os

    import torch

    # deterministic cuBLAS (the profile's "deterministic" rows) needs this set before the first matmul
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if not args.smoke and not torch.cuda.is_available():
        print("bench_gpu: no CUDA device on this machine, so there is no GPU study to measure (run it where a GPU "
              "is, or with --smoke for the CPU stages at smoke scale)")
        return 0
    from common import print_table, quiet, save

    quiet()


    from mmpaper.paper import variant_names
    from mmpaper.presets import PRESETS

    preset = smoke_preset() if args.smoke else PRESETS["gpu"]
    from mmpaper.train import accelerator_device

    device = accelerator_device(preset.accelerator)
    gpu_name = torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu"
    print(f"gpu study: preset {preset.name} on {gpu_name}, budget {args.budget:.0f} s", flush=True)
    monitor = GPUMonitor()
    monitor.start()
    try:
        profile = None
        if not args.no_profile:
            t0 = time.perf_counter()
            profile = profile_steps(preset, device, args.smoke)
            profile["seconds"] = time.perf_counter() - t0
            print_table(profile["rows"], "Step profile (median ms per optimiser step, one fixed batch)")
            for name, found in profile["top_ops"].items():
                busy = found["device_busy_share"]
                print_table(found["ops"], f"{name}: where a step's time goes ({profile['precision']}"
                            + (f"; GPU busy {100 * busy:.0f}% of the wall time)" if busy is not None else ", CPU)"))
        slug = re.sub(r"[^a-z0-9]+", "-", gpu_name.lower()).strip("-") or "cpu"
        name = f"gpu-{slug}" if not args.smoke else "gpu-smoke"

        def partial(rows):  # the stages so far, marked partial until the study ends
            save(name, {"preset": preset.name, "device": gpu_name, "budget_seconds": args.budget, "partial": True,
                        "monitor": monitor.source, "rows": rows, "profile": profile}, args.out_dir)

        with tempfile.TemporaryDirectory(prefix="mmpaper-bench-gpu-") as tmp:
            runs = Path(args.runs_dir or Path(tmp) / "runs")
            cache = Path(args.cache_dir or runs.parent / "cache")
            rows, summary = study(preset, runs, cache, args.budget, variant_names(args.variants), monitor,
                                  loader_batches=args.loader_batches, on_stage=partial)
    finally:
        monitor.stop()
    if summary["loader"]:
        print_table(summary["loader"], "Input pipeline on this host at the preset's shapes")
    print_table(rows, f"The gpu study, stage by stage ({gpu_name}; {summary['precision']}; "
                      f"total {summary['total_seconds']:.0f} s)")
    path = save(name, {"preset": preset.name, "device": gpu_name, "budget_seconds": args.budget,
                       "monitor": monitor.source, "rows": rows, "profile": profile, **summary}, args.out_dir)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
