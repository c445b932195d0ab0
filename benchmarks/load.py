"""Checkpoint loading benchmark: time and peak memory of a full-size SD 1.5 checkpoint load.

Writes an SD 1.5-layout checkpoint with random fp16 weights (~2.1 GB, the size of a typical community file)
to a temporary folder (deleted afterwards, never committed), then measures, each case in its own process:

- ``read``: plain sequential read of the file into one reused buffer (pure I/O);
- ``read_new``: the file read into newly allocated memory (``Path.read_bytes``): I/O plus the page faults any
  loader pays to hold the weights; the time goal is measured against this;
- ``fp16``: ``ModelManager.load`` into fp16 CPU modules (file dtype == target dtype);
- ``fp32``: the same file into fp32 CPU modules (every tensor converted);
- ``switch``: load A, load B, then switch back to A from the RAM cache (``sd_checkpoint_cache`` = 1).

Each case runs ``--repeat`` times (default 3); the fastest time and the highest memory peak are reported, so
other load on the machine inflates neither. Peak memory is the peak RSS above the process's RSS after its
imports (sampled every 2 ms with psutil, cross-checked with ``getrusage``), compared with the size of the
loaded weights in the target dtype.
Goals: same-dtype load peak <= 1.3x weights and time <= 2x plain read; switch back <= 0.5 s.

    ./venv/bin/python benchmarks/load.py [--dir /tmp] [--keep] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class PeakRss:
    """Samples this process's RSS in a thread; ``peak`` is the highest value seen."""

    def __init__(self, interval: float = 0.002) -> None:
        import psutil

        self._process = psutil.Process()
        self.interval = interval
        self.peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


def rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def model_bytes(model) -> int:
    modules = [model.unet, model.vae, *model.text_encoders]
    return sum(t.numel() * t.element_size() for m in modules for t in [*m.parameters(), *m.buffers()])


def _manager(data_dir: Path, dtype_name: str):
    import torch

    from modules.devices import DeviceInfo
    from modules.models.manager import ModelManager
    from modules.models.options import OPTIONS
    from modules.paths import Paths
    from modules.settings.cli import build_parser
    from modules.settings.registry import OptionRegistry, Settings

    dtype = getattr(torch, dtype_name)
    flags = build_parser().parse_args(["--data-dir", str(data_dir), "--use-cpu", "all", "--no-hashing"])
    device = DeviceInfo(torch.device("cpu"), dtype, dtype, description=f"CPU {dtype_name}")
    return ModelManager(Paths.from_flags(flags), Settings(OptionRegistry(OPTIONS)), flags, device)


def run_case(case: str, data_dir: Path) -> dict:
    """One measurement, in this (fresh) process."""
    checkpoint = data_dir / "models" / "Stable-diffusion" / "a.safetensors"
    if case in ("read", "read_new"):
        base = rss()
        with PeakRss() as peak:
            start = time.perf_counter()
            if case == "read":  # I/O only: one reused buffer
                view = memoryview(bytearray(64 * 1024 * 1024))
                with open(checkpoint, "rb", buffering=0) as handle:
                    while handle.readinto(view):
                        pass
            else:  # what any loader pays at least: the bytes in newly allocated memory
                data = checkpoint.read_bytes()
                del data
            seconds = time.perf_counter() - start
        return {"seconds": seconds, "peak_extra": peak.peak - base, "weights": checkpoint.stat().st_size}
    import diffusers  # noqa: F401  (imports first, so they are part of the baseline)
    import torch  # noqa: F401
    import transformers  # noqa: F401
    from diffusers import AutoencoderKL, UNet2DConditionModel  # noqa: F401
    from transformers import CLIPTextModel  # noqa: F401

    manager = _manager(data_dir, "float32" if case == "fp32" else "float16")
    manager.checkpoints()
    from modules.models.loader import load_sd_model  # noqa: F401

    base = rss()
    base_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result: dict = {}
    with PeakRss() as peak:
        start = time.perf_counter()
        model = manager.load("a.safetensors")
        result["seconds"] = time.perf_counter() - start
        if case == "switch":
            manager.load("b.safetensors")
            start = time.perf_counter()
            again = manager.load("a.safetensors")
            result["switch_seconds"] = time.perf_counter() - start
            result["same_object"] = again is model
    result["weights"] = model_bytes(model)
    result["peak_extra"] = peak.peak - base
    result["maxrss_extra"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - max(base, base_maxrss)
    result["label"] = model.arch.label
    return result


def _in_subprocess(case: str, data_dir: Path) -> dict:
    command = [sys.executable, __file__, "--case", case, "--data", str(data_dir)]
    output = subprocess.run(
        command, check=True, capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, HF_HUB_OFFLINE="1")
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def _best_of(case: str, data_dir: Path, repeat: int) -> dict:
    """Each case ``repeat`` times in fresh processes: the fastest time, the highest memory peak."""
    runs = [_in_subprocess(case, data_dir) for _ in range(max(1, repeat))]
    best = dict(min(runs, key=lambda r: r["seconds"]))
    best["peak_extra"] = max(r["peak_extra"] for r in runs)
    if "switch_seconds" in best:
        best["switch_seconds"] = min(r["switch_seconds"] for r in runs)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=None, help="where to write the temporary checkpoint (default: system temp)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the fastest is reported (default 3)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, Path(args.data))))
        return

    import torch

    from tests.checkpoint_factory import write_safetensors_stream

    data_dir = Path(tempfile.mkdtemp(prefix="sd-load-bench-", dir=args.dir))
    try:
        folder = data_dir / "models" / "Stable-diffusion"
        start = time.perf_counter()
        path = write_safetensors_stream(folder / "a.safetensors", "sd15", dtype=torch.float16)
        os.link(path, folder / "b.safetensors")  # a second checkpoint name without a second 2 GB file
        print(
            f"wrote {path.stat().st_size / 1e9:.2f} GB SD 1.5 fp16 checkpoint in "
            f"{time.perf_counter() - start:.1f} s to {folder}"
        )
        _in_subprocess("read", data_dir)  # warm the page cache so every case reads from RAM alike
        cases = ("read", "read_new", "fp16", "fp32", "switch")
        results = {case: _best_of(case, data_dir, args.repeat) for case in cases}
    finally:
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    read = results["read_new"]["seconds"]
    print(f"\n{'case':<40}{'time s':>8}{'x read':>8}{'weights GB':>12}{'peak extra GB':>15}{'x weights':>11}")
    rows = [
        ("plain read, reused 64 MiB buffer", "read"),
        ("plain read into new memory (= 1.00)", "read_new"),
        ("load fp16 file -> fp16 CPU", "fp16"),
        ("load fp16 file -> fp32 CPU", "fp32"),
        ("load A, B, then A from cache", "switch"),
    ]
    for label, case in rows:
        r = results[case]
        ratio = r["peak_extra"] / r["weights"] if r["weights"] else 0
        print(
            f"{label:<40}{r['seconds']:>8.2f}{r['seconds'] / read:>8.2f}{r['weights'] / 1e9:>12.2f}"
            f"{r['peak_extra'] / 1e9:>15.2f}{ratio:>11.2f}"
        )
    fp16 = results["fp16"]
    switch = results["switch"]
    print(f"\nswitch back to cached model: {switch['switch_seconds']:.3f} s (same object: {switch['same_object']})")
    print(f"getrusage cross-check, fp16 peak extra: {fp16['maxrss_extra'] / 1e9:.2f} GB")
    checks = {
        "same-dtype peak extra RSS <= 1.3x weights": fp16["peak_extra"] <= 1.3 * fp16["weights"],
        "same-dtype load time <= 2x plain read into new memory": fp16["seconds"] <= 2 * read,
        "switch back to cached model <= 0.5 s": switch["switch_seconds"] <= 0.5,
    }
    for text, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {text}")


if __name__ == "__main__":
    main()
