"""``--workers ray`` on this CPU machine: a local Ray instance with 2 CPU replicas and tiny checkpoints.

One module-scoped Ray instance serves every test (starting Ray costs seconds). Each result is compared with
an in-process backend on an identical copy of the models folder.
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install -r requirements-ray.txt")

from fastapi.testclient import TestClient  # noqa: E402

from tests.checkpoint_factory import write_checkpoint  # noqa: E402
from tests.test_api_helpers import build, decode  # noqa: E402

FAST = {"steps": 3, "width": 64, "height": 64, "seed": 777, "prompt": "a red cube"}


def _models(data):
    folder = data / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    write_checkpoint("sd15_tiny", folder / "alpha.safetensors", seed=0)
    write_checkpoint("sd15_tiny", folder / "beta.safetensors", seed=1)
    (data / "config.json").write_text(json.dumps({"sd_model_checkpoint": "alpha.safetensors"}))


REFERENCE = """
import hashlib, json, sys
import torch
torch.set_num_threads(1)  # as each CPU replica: CPU float sums depend on the thread count
from tests.test_api_helpers import build
from modules.processing.params import GenerationParams
backend, _ = build(__import__("pathlib").Path(sys.argv[1]))
backend.start_background_init().join()
out = []
for fields in json.loads(sys.argv[2]):
    done = backend.generation.run(GenerationParams(**fields))
    out.append({"pixels": [hashlib.sha256(image.tobytes()).hexdigest() for image in done.images],
                "infotexts": done.infotexts, "all_seeds": done.all_seeds})
print("RESULT " + json.dumps(out))
"""
CASES = [
    {
        "prompt": "a red cube",
        "sampler_name": "Euler a",
        "steps": 3,
        "width": 64,
        "height": 64,
        "seed": 777,
        "n_iter": 4,
    },
    {"prompt": "a red cube", "sampler_name": "Euler a", "steps": 3, "width": 64, "height": 64, "seed": 21},
]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The in-process runs of CASES, in a fresh process at the replicas' 1 torch thread."""
    import subprocess
    import sys

    data = tmp_path_factory.mktemp("ray-reference")
    _models(data)
    root = str(__import__("pathlib").Path(__file__).resolve().parent.parent)
    run = subprocess.run(
        [sys.executable, "-c", REFERENCE, str(data), json.dumps(CASES)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=root,
        check=True,
    )
    line = [text for text in run.stdout.splitlines() if text.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT ") :])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    data = tmp_path_factory.mktemp("ray-front")
    _models(data)
    backend, app = build(data, "--workers", "ray", "--worker-count", "2", ui=True)
    backend.start_background_init().join(300)
    backend.workers.wait_started(timeout=1)
    try:
        with TestClient(app) as client:
            client.backend = backend
            client.data = data
            client.app = app
            yield client
    finally:
        backend.workers.stop()


def _txt2img(client, **fields):
    answer = client.post("/sdapi/v1/txt2img", json={**FAST, **fields})
    assert answer.status_code == 200, answer.text
    return answer.json()


def _pixels(result):
    import hashlib

    info = json.loads(result["info"])
    return [hashlib.sha256(decode(image).tobytes()).hexdigest() for image in result["images"]], info


def test_default_start_imports_no_ray(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys, webui; from modules.settings.cli import parse_flags; "
        f"webui.build_backend(parse_flags(['--data-dir', {str(tmp_path)!r}])); "
        "print('ray' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_the_router_prefers_idle_replicas_then_the_one_holding_the_checkpoint():
    import doctest

    from modules.workers import routing
    from modules.workers.routing import replica_rank

    # (pieces held, holds the checkpoint): an idle replica beats a busy holder; among idle ones the holder
    ranks = {name: replica_rank(*state) for name, state in {"busy-holder": (1, True), "idle": (0, False)}.items()}
    assert min(ranks, key=ranks.get) == "idle"
    # a holder whose count the router forgot (nothing sent to it lately: idle) still beats an idle non-holder
    assert replica_rank(0, True) < replica_rank(None, True) < replica_rank(0, False) < replica_rank(1, True)
    assert doctest.testmod(routing).failed == 0


def test_n_iter_over_two_replicas_matches_the_in_process_run(cluster, reference):
    remote_images, remote_info = _pixels(_txt2img(cluster, **CASES[0]))
    assert remote_info["all_seeds"] == reference[0]["all_seeds"] == [777, 778, 779, 780]
    assert remote_info["infotexts"] == reference[0]["infotexts"]
    assert remote_images == reference[0]["pixels"]  # grid first, then the 4 images, pixel for pixel
    pids = {piece["pid"] for piece in cluster.backend.workers.pieces}
    assert len(pids) == 2 and os.getpid() not in pids  # both replicas worked, none of it in this process


def test_saved_files_and_progress_with_previews(cluster):
    from modules.processing.params import GenerationParams

    params = GenerationParams(
        prompt="saved", steps=6, width=64, height=64, seed=5, override_settings={"show_progress_every_n_steps": 1}
    )
    job = cluster.backend.generation.submit(params)  # the path the page's Generate button takes
    steps, previews, version, polled = set(), 0, 0, []
    while not job.done:
        version = job.wait_for_change(version, timeout=5)
        snapshot = job.progress()
        steps.add(snapshot.sampling_step)
        previews = max(previews, snapshot.preview_id)
        if job.running and not polled:
            polled.append(cluster.get("/sdapi/v1/progress").json())
    processed = job.wait()
    assert previews >= 1 and len(steps - {0}) >= 2
    assert polled and polled[0]["state"]["job_count"] == 1
    saved = list((cluster.data / "outputs").rglob("*.png"))
    assert [path for path in saved if "saved" in decode_file(path).info["parameters"]]
    assert processed.infotexts[0] == decode_file(processed.saved_paths[0]).info["parameters"]


def decode_file(path):
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        return image


def test_interrupt_stops_a_running_replica_job(cluster):
    from modules.processing.params import GenerationParams

    params = GenerationParams(prompt="long", steps=150, width=64, height=64, seed=3, n_iter=4)
    job = cluster.backend.generation.submit(params)  # 2 batches run, 2 wait in Ray's queue
    version = 0
    while job.progress().sampling_step < 2 and not job.done:
        version = job.wait_for_change(version, timeout=30)
    started = time.monotonic()
    assert cluster.post("/sdapi/v1/interrupt").status_code == 200
    result = job.wait(timeout=60)
    assert time.monotonic() - started < 20
    assert result.interrupted and job.progress().sampling_step < 150
    started_pieces = [piece for piece in cluster.backend.workers.pieces if piece["job"] == job.id]
    assert len(started_pieces) == 2  # the waiting batches were taken out of Ray's queue, never started
    assert len(result.images) <= 3  # at most the two interrupted batches and their grid


def test_checkpoint_switch_on_one_replica_leaves_the_other_alone(cluster):
    workers = cluster.backend.workers
    _txt2img(cluster, n_iter=2)  # both replicas hold alpha
    _txt2img(cluster, override_settings={"sd_model_checkpoint": "beta.safetensors"})
    switched = workers.pieces[-1]["pid"]
    _txt2img(cluster)  # alpha again: routed to the replica that still holds it
    piece = workers.pieces[-1]
    assert piece["pid"] != switched and piece["loaded"] == "alpha.safetensors"


def test_page_generates_on_a_replica_and_shows_progress(cluster, page):
    import re

    from modules.server import Server
    from tests.conftest import free_port

    port = free_port()
    server = Server(cluster.app, "127.0.0.1", port)
    server.start()
    assert server.wait_started()
    try:
        page.goto(f"http://127.0.0.1:{port}")
        page.locator("#model_status").get_by_text("2 Ray worker(s)").wait_for(timeout=60_000)
        page.locator("#txt2img_prompt textarea").fill("a page job")
        for name, value in (("steps", 150), ("width", 64), ("height", 64)):  # long enough to see progress
            box = page.locator(f"#txt2img_{name} input[type=number]")
            box.fill(str(value))
            box.press("Enter")
        before = len(cluster.backend.workers.pieces)
        page.locator("#txt2img_generate").click()
        page.locator("#txt2img_progress").get_by_text(re.compile(r"Step [1-9]\d*/150")).wait_for(timeout=120_000)
        page.locator("#html_info_txt2img").get_by_text("a page job").wait_for(timeout=120_000)
        shown = page.locator("#html_info_txt2img").inner_text()
        assert "Steps: 150" in shown and "Model: alpha" in shown
        assert len(cluster.backend.workers.pieces) == before + 1  # it ran on a replica
        texts = [decode_file(path).info["parameters"] for path in (cluster.data / "outputs").rglob("*.png")]
        assert [text for text in texts if text.startswith("a page job") and "Steps: 150" in text]
    finally:
        server.stop()


def test_killed_replica_costs_one_retry_and_the_server_lives(cluster, reference):
    from modules.processing.params import GenerationParams

    workers = cluster.backend.workers
    before = len(workers.pieces)
    job = cluster.backend.generation.submit(GenerationParams(prompt="kill", steps=60, width=64, height=64, seed=9))
    version = 0
    while job.progress().sampling_step < 2 and not job.done:
        version = job.wait_for_change(version, timeout=30)
    victim = workers.pieces[-1]["pid"]
    assert len(workers.pieces) > before
    os.kill(victim, signal.SIGKILL)
    result = job.wait(timeout=240)  # retried once on the other replica
    assert len(result.images) == 1 and workers.pieces[-1]["pid"] != victim
    images, info = _pixels(_txt2img(cluster, **CASES[1]))  # the next request succeeds, same image as in-process
    assert images == reference[1]["pixels"] and info["infotexts"] == reference[1]["infotexts"]
    deadline = time.monotonic() + 180  # Ray Serve replaces the killed replica: two live pids serve again
    while True:
        result = _txt2img(cluster, n_iter=2, steps=20)
        job_id = cluster.backend.workers.pieces[-1]["job"]
        pids = {piece["pid"] for piece in cluster.backend.workers.pieces if piece["job"] == job_id}
        if len(pids) == 2:
            break
        assert time.monotonic() < deadline, "the killed replica was not replaced"
        time.sleep(2)
    assert victim not in pids and len(result["images"]) == 3
