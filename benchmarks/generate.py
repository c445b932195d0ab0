"""txt2img speed against plain diffusers on the same checkpoint, sampler, steps and size, in one run.

For each checkpoint (the tiny SD 1.x test layout, and a full-size SD 1.5 layout with random fp16 weights
written by this script into a temporary folder) it loads the file through our model manager, then times, in
alternating runs, (a) our whole generation path (job queue → conditioning → denoise loop → VAE decode) and
(b) diffusers' StableDiffusionPipeline built from the very same modules and an Euler scheduler on the same
sigmas. It prints seconds per image for both, the ratio, peak RSS, and on CUDA it/s and peak VRAM.

    venv/bin/python benchmarks/generate.py [--runs 3] [--size 256] [--steps 10] [--skip-full]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class PeakRSS:
    """Samples the process RSS every 10 ms while active; ``peak`` is the maximum seen."""

    def __init__(self) -> None:
        import psutil

        self._process = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            self._stop.wait(0.01)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def diffusers_pipeline(model):
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline

    from modules.models.tokenizer import clip_tokenizer

    scheduler = EulerDiscreteScheduler.from_config({**model.scheduler_config, "timestep_spacing": "linspace"})
    text_encoder = model.conditioner.encoders[0][1]
    tokenizer = copy.deepcopy(clip_tokenizer())  # the shared one is unbounded: we chunk prompts ourselves
    tokenizer.model_max_length = 77  # what diffusers' pipeline pads and truncates to
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = StableDiffusionPipeline(
            vae=model.vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            unet=model.unet,
            scheduler=scheduler,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def bench_checkpoint(label: str, data_dir: Path, args) -> None:
    import torch

    from modules.processing.params import GenerationParams
    from modules.processing.schedules import ModelSigmas
    from tests.helpers import make_backend

    backend = make_backend(data_dir)
    model = backend.models.current
    pipe = diffusers_pipeline(model)
    sigmas = ModelSigmas.from_config(model.scheduler_config).uniform(args.steps).tolist()
    params = GenerationParams(
        prompt="a photo of a cat",
        negative_prompt="blurry",
        sampler_name="Euler",
        steps=args.steps,
        width=args.size,
        height=args.size,
        cfg_scale=7.0,
        seed=1,
        do_not_save_samples=True,
        do_not_save_grid=True,
    )
    cuda = model.device.type == "cuda"

    def ours() -> None:
        backend.generation.run(params)

    def reference() -> None:
        generator = torch.Generator("cpu").manual_seed(1)
        latents = torch.randn((1, 4, args.size // 8, args.size // 8), generator=generator).to(model.device, model.dtype)
        pipe(
            prompt="a photo of a cat",
            negative_prompt="blurry",
            num_inference_steps=args.steps,
            sigmas=sigmas,
            guidance_scale=7.0,
            height=args.size,
            width=args.size,
            latents=latents,
        )

    ours(), reference()  # warm-up: first calls pay for allocations and lazy initialisation
    times = {"ours": [], "diffusers": []}
    peaks = {"ours": 0, "diffusers": 0}
    vram = {"ours": 0, "diffusers": 0}
    for _ in range(args.runs):
        for name, fn in (("ours", ours), ("diffusers", reference)):
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            with PeakRSS() as rss:
                started = time.perf_counter()
                fn()
                if cuda:
                    torch.cuda.synchronize()
                times[name].append(time.perf_counter() - started)
            peaks[name] = max(peaks[name], rss.peak)
            if cuda:
                vram[name] = max(vram[name], torch.cuda.max_memory_allocated())
    ours_s, ref_s = statistics.median(times["ours"]), statistics.median(times["diffusers"])
    print(f"\n{label}: {args.size}x{args.size}, Euler, {args.steps} steps, batch 1, {model.device} {model.dtype}")
    for name, seconds in (("ours", ours_s), ("diffusers", ref_s)):
        line = f"  {name:<10}: {seconds:8.3f} s/image  ({args.steps / seconds:6.2f} it/s)"
        line += f"  peak RSS {peaks[name] / 2**30:.2f} GiB"
        if cuda:
            line += f"  peak VRAM {vram[name] / 2**30:.2f} GiB"
        print(line)
    print(f"  ratio ours/diffusers: {ours_s / ref_s:.3f} (goal <= 1.02)")
    backend.models.unload()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--skip-full", action="store_true", help="only the tiny checkpoint")
    parser.add_argument("--full-only", action="store_true")
    args = parser.parse_args()
    import torch

    from tests.checkpoint_factory import write_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        if not args.full_only:
            tiny = Path(tmp) / "tiny"
            write_checkpoint("sd15_tiny", tiny / "models" / "Stable-diffusion" / "tiny.safetensors")
            bench_checkpoint(
                "tiny SD 1.x", tiny, argparse.Namespace(**{**vars(args), "size": 64, "steps": 20, "runs": 5})
            )
        if not args.skip_full:
            full = Path(tmp) / "full"
            print("\nwriting a full-size SD 1.5 layout with random fp16 weights (about 2 GB)...", flush=True)
            write_checkpoint(
                "sd15", full / "models" / "Stable-diffusion" / "sd15-random.safetensors", dtype=torch.float16
            )
            bench_checkpoint("full-size SD 1.5 layout", full, args)


if __name__ == "__main__":
    main()
