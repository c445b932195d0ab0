"""Images per second for K queued txt2img requests: the in-process queue against Ray Serve at 1 and 2 replicas.

Tiny SD 1.x checkpoint (written into a temporary folder), 128x128, 8 steps, every worker at 1 torch thread
(the in-process one too), all in the same run. Each configuration is warmed up first (model loaded on every
replica), then K requests are submitted at once and timed until the last finishes. Prints images/s and the
ratios the scale-out issue asks for: 2 replicas / 1 replica (target >= 1.8 on a 2-core machine) and
1 replica / in-process (target >= 0.9).

    venv/bin/python benchmarks/scale_out.py [--requests 8] [--steps 8] [--size 128]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_data_dir(root: Path) -> Path:
    from tests.checkpoint_factory import write_checkpoint

    folder = root / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    write_checkpoint("sd15_tiny", folder / "tiny.safetensors", seed=0)
    return root


def build(data: Path, *args: str):
    import webui
    from modules.settings.cli import parse_flags

    backend = webui.build_backend(parse_flags(["--nowebui", "--data-dir", str(data), *args]))
    backend.start_background_init().join(600)
    backend.wait_ready(600)
    return backend


def images_per_second(backend, count: int, steps: int, size: int, warmup: int) -> float:
    from modules.processing.params import GenerationParams

    def params(seed: int) -> GenerationParams:
        return GenerationParams(
            prompt="a red cube", steps=steps, width=size, height=size, seed=seed, do_not_save_samples=True
        )

    for job in [backend.generation.submit(params(1000 + i)) for i in range(warmup)]:
        job.wait()
    started = time.perf_counter()
    jobs = [backend.generation.submit(params(i)) for i in range(count)]
    for job in jobs:
        job.wait()
    return count / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=8)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    torch.set_num_threads(1)
    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = make_data_dir(Path(tmp))
        local = build(data)
        local.jobs.run(lambda job: None)  # the start-up checkpoint load
        rates["in-process"] = images_per_second(local, args.requests, args.steps, args.size, warmup=1)
        del local
        for replicas in (1, 2):
            backend = build(data, "--workers", "ray", "--worker-count", str(replicas))
            try:
                backend.workers.wait_started(timeout=1)
                rates[f"ray x{replicas}"] = images_per_second(
                    backend, args.requests, args.steps, args.size, warmup=replicas
                )
            finally:
                backend.workers.stop()
    for name, rate in rates.items():
        print(f"{name:>12}: {rate:6.2f} images/s")
    print(f"ray x2 / ray x1      = {rates['ray x2'] / rates['ray x1']:.2f}  (target >= 1.8)")
    print(f"ray x1 / in-process  = {rates['ray x1'] / rates['in-process']:.2f}  (target >= 0.90)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
