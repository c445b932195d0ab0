"""img2img Batch runs in the backend: one queued job per input file, results saved under the inputs' names."""

from __future__ import annotations

import threading

import pytest
from PIL import Image

from modules.processing.img2img_batch import Img2ImgBatch, mask_for, snap_size
from modules.processing.params import GenerationParams
from tests.checkpoint_factory import write_checkpoint
from tests.helpers import make_backend

SMALL = {"mode": "img2img", "prompt": "a cat", "steps": 2, "width": 64, "height": 64, "denoising_strength": 0.5}


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    data = tmp_path_factory.mktemp("batch")
    write_checkpoint("sd15_tiny", data / "models" / "Stable-diffusion" / "tiny.safetensors")
    return make_backend(data)


def inputs(folder, sizes):
    folder.mkdir(parents=True, exist_ok=True)
    for index, size in enumerate(sizes):
        Image.new("RGB", size, (40 * index, 120, 200)).save(folder / f"in{index}.png")
    return tuple(sorted(folder.glob("*.png")))


def test_pure_parts(tmp_path):
    assert [snap_size(v) for v in (10, 100, 101, 5000)] == [64, 96, 104, 2048]
    Image.new("L", (8, 8), 255).save(tmp_path / "a.webp")
    (tmp_path / "a.txt").write_text("not a mask")
    assert mask_for(str(tmp_path), tmp_path / "other" / "a.png").size == (8, 8)
    assert mask_for(str(tmp_path), tmp_path / "b.png") is None and mask_for("", tmp_path / "a.png") is None


def test_batch_saves_each_result_under_its_input_name(backend, tmp_path):
    files = inputs(tmp_path / "in", [(64, 64), (96, 64)])
    masks = tmp_path / "masks"
    masks.mkdir()
    Image.new("L", (96, 64), 255).save(masks / "in1.png")
    out = tmp_path / "out"
    batch = Img2ImgBatch(files, GenerationParams(**SMALL), mask_dir=str(masks), output_dir=str(out), scale_by=1.0)
    run = backend.generation.submit_img2img_batch(batch)
    seen = []
    job = None
    while (job := run.next_job(job, timeout=120)) is not None:
        seen.append((run.number, job.id))
    assert run.wait(120) and run.done
    assert run.failed_job is None and run.input_error is None
    assert [number for number, _ in seen] == [1, 2] and len({job_id for _, job_id in seen}) == 2
    assert [image.size for image in run.images] == [(64, 64), (96, 64)]  # scaled by 1: each input's own size
    assert "Mask blur" not in run.infotexts[0] and "Mask blur" in run.infotexts[1]  # in1 found its mask
    assert sorted(path.name for path in out.iterdir()) == ["in0.png", "in1.png"]
    assert Image.open(out / "in1.png").size == (96, 64)


def test_interrupt_stops_the_rest_and_an_unreadable_input_is_named(backend, tmp_path):
    files = inputs(tmp_path / "in", [(64, 64), (64, 64)])
    release = threading.Event()
    blocker = backend.jobs.submit(lambda job: release.wait(30), label="stand-in generation")
    run = backend.generation.submit_img2img_batch(Img2ImgBatch(files, GenerationParams(**SMALL)))
    first = run.next_job(None, timeout=30)
    first.interrupt()  # still waiting behind the stand-in: it never starts, and the second is never queued
    release.set()
    assert run.wait(60) and blocker.done
    assert run.failed_job is first and run.images == [] and run.number == 1

    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    run = backend.generation.submit_img2img_batch(Img2ImgBatch((files[0], broken), GenerationParams(**SMALL)))
    assert run.wait(120)
    assert len(run.images) == 1 and run.input_error is not None and run.input_error[0] == "broken.png"
