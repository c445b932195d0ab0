"""Images per second for K queued txt2img requests: the in-process queue against Ray Serve at 1 and 2 replicas.

Tiny SD 1.x checkpoint (written into a temporary folder), 128x128, 8 steps, every worker at 1 torch thread
(the in-process one too), all in the same run: one Ray instance holds a 1-replica and a 2-replica application
side by side, and the three configurations take turns for ``--rounds`` rounds (so a load change on a shared
machine hits all three alike). Each is warmed up first (model loaded on every replica); then K requests are
submitted at once and timed until the last finishes. Prints images/s (each round, then overall), the CPU time
per image of each process group (independent of other load: on a shared machine the wall-clock ratios are
noisy), and the ratios the scale-out issue asks for: 2 replicas / 1 replica (target >= 1.8 on a 2-core
machine) and 1 replica / in-process (target >= 0.9).

    venv/bin/python benchmarks/scale_out.py [--requests 8] [--rounds 3] [--steps 8] [--size 128]
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


def build(data: Path, *args: str, app_name: str | None = None):
    import webui
    from modules.settings.cli import parse_flags

    backend = webui.build_backend(parse_flags(["--nowebui", "--data-dir", str(data), *args]))
    if app_name is not None:
        backend.workers.app_name = app_name
    backend.start_background_init().join(600)
    backend.wait_ready(600)
    return backend


def run_batch(backend, count: int, steps: int, size: int, first_seed: int = 0) -> float:
    """Seconds for ``count`` requests submitted at once."""
    from modules.processing.params import GenerationParams

    started = time.perf_counter()
    jobs = [
        backend.generation.submit(
            GenerationParams(
                prompt="a red cube", steps=steps, width=size, height=size, seed=first_seed + i, do_not_save_samples=True
            )
        )
        for i in range(count)
    ]
    for job in jobs:
        job.wait()
    return time.perf_counter() - started


def cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by this process ("front") and by every process it started (replicas by
    name, the rest as "ray system"); exited processes drop out, so diff two calls around a batch."""
    import psutil

    me = psutil.Process()
    used = {"front": sum(me.cpu_times()[:2])}
    for child in me.children(recursive=True):
        try:
            name = " ".join(child.cmdline()[:1])
            group = name.removeprefix("ray::").split(":generation")[0] if "ServeReplica" in name else "ray system"
            used[group] = used.get(group, 0.0) + sum(child.cpu_times()[:2])
        except psutil.Error:
            continue
    return used


def warm_up(backend, steps: int, size: int) -> None:
    """Every replica loads the model and runs a few pieces before the timed rounds."""
    count = backend.workers.replica_count if backend.workers is not None else 1
    for _ in range(2):
        run_batch(backend, 2 * count, steps, size, first_seed=1000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import ray
    import torch

    torch.set_num_threads(1)
    from modules.workers import ray_setup

    ray_setup.start_local(num_cpus=3)  # as the front starts it; 1 + 2 replicas, idle ones cost nothing
    seconds = {"in-process": 0.0, "ray x1": 0.0, "ray x2": 0.0}
    cpu: dict[str, dict[str, float]] = {name: {} for name in seconds}  # CPU seconds by process group
    with tempfile.TemporaryDirectory() as tmp:
        data = make_data_dir(Path(tmp))
        backends = {"in-process": build(data)}
        backends["in-process"].jobs.run(lambda job: None)  # the start-up checkpoint load
        backends["ray x1"] = build(data, "--workers", "ray", "--worker-count", "1", app_name="bench1")
        backends["ray x2"] = build(data, "--workers", "ray", "--worker-count", "2", app_name="bench2")
        try:
            for backend in backends.values():
                warm_up(backend, args.steps, args.size)
            for round_no in range(1, args.rounds + 1):
                line = []
                for name, backend in backends.items():
                    before = cpu_seconds()
                    took = run_batch(backend, args.requests, args.steps, args.size)
                    after = cpu_seconds()
                    seconds[name] += took
                    for group, value in after.items():
                        cpu[name][group] = cpu[name].get(group, 0.0) + value - before.get(group, value)
                    line.append(f"{name} {args.requests / took:.2f}")
                print(f"round {round_no}: " + ", ".join(line) + " images/s", flush=True)
        finally:
            for name in ("ray x1", "ray x2"):
                backends[name].workers.stop()
            ray.shutdown()
    rates = {name: args.rounds * args.requests / total for name, total in seconds.items()}
    images = args.rounds * args.requests
    for name, rate in rates.items():
        # CPU per image does not depend on what else the machine runs: it shows the overhead on a shared box
        used = sorted(cpu[name].items(), key=lambda item: -item[1])
        shown = ", ".join(f"{group} {value / images * 1000:.0f}" for group, value in used if value > 0.0005 * images)
        print(f"{name:>12}: {rate:6.2f} images/s   CPU ms per image: {shown}")
    print(f"ray x2 / ray x1      = {rates['ray x2'] / rates['ray x1']:.2f}  (target >= 1.8)")
    print(f"ray x1 / in-process  = {rates['ray x1'] / rates['in-process']:.2f}  (target >= 0.90)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
