"""``kill -9`` while settings and images are being written: config.json stays valid, no half-written image is
ever visible under its final name, and the temporaries a crash leaves are removed at the next start-up."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from PIL import Image

from tests.checkpoint_factory import write_checkpoint
from tests.conftest import ROOT, RunningServer

WRITER = r"""
import sys, random
from pathlib import Path
from PIL import Image
from modules.settings.store import JsonSettingsStore
from modules.images.save import save_image

root = Path(sys.argv[1])
store = JsonSettingsStore(root / "config.json")
image = Image.effect_noise((384, 384), 64).convert("RGB")
print("ready", flush=True)
n = 0
while True:
    n += 1
    store.save({"n": n, "padding": "x" * random.randint(100_000, 400_000)})
    save_image(image, root / "outputs", "img", {"seed": n}, infotext="a cube\nSteps: 1, Seed: %d" % n, fmt="png")
"""


def _assert_intact(root: Path) -> None:
    data = json.loads((root / "config.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict) and data["n"] >= 1
    for png in (root / "outputs").rglob("*.png"):
        with Image.open(png) as image:
            image.load()  # raises on a truncated file
        assert image.info.get("parameters", "").startswith("a cube")


def test_kill_9_during_settings_and_image_saves_leaves_valid_files(tmp_path):
    random.seed(0)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    leftovers = 0
    for _round in range(6):
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path)], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
        )
        assert child.stdout.readline().strip() == "ready"
        time.sleep(random.uniform(0.3, 1.2))
        child.send_signal(signal.SIGKILL)
        child.wait()
        _assert_intact(tmp_path)
        leftovers += len(list(tmp_path.glob(".config.json.*.tmp"))) + len(list(tmp_path.rglob(".*.tmp")))
    from modules.images.save import remove_orphaned_temporaries
    from modules.settings.store import remove_temporaries_of

    remove_temporaries_of(tmp_path / "config.json")  # what start-up runs for each settings file
    remove_orphaned_temporaries([tmp_path / "outputs"])
    assert not list(tmp_path.rglob("*.tmp"))
    _assert_intact(tmp_path)


def _post(url: str, body: dict, timeout: float = 60) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:  # the server was killed mid-request
        return -1


def test_real_server_killed_mid_save_restarts_clean(tmp_path):
    data = tmp_path / "data"
    write_checkpoint("sd15_tiny", data / "models" / "Stable-diffusion" / "tiny.safetensors")
    server = RunningServer(data, ["--api", "--no-hashing"])
    statuses: list[int] = []
    try:
        server.wait_up("/sdapi/v1/sd-models")
        stop = threading.Event()

        def save_settings() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                statuses.append(_post(server.url + "/sdapi/v1/options", {"fault_padding": "y" * 200_000, "fault_n": n}))

        def generate() -> None:
            while not stop.is_set():
                fields = {"prompt": "a cube", "steps": 1, "width": 64, "height": 64, "save_images": True}
                statuses.append(_post(server.url + "/sdapi/v1/txt2img", fields))

        threads = [threading.Thread(target=save_settings), threading.Thread(target=generate)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while not list((data / "outputs").rglob("*.png")) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
        stop.set()
        for thread in threads:
            thread.join(timeout=90)
    finally:
        server.stop()
    assert statuses and all(code in (200, -1) for code in statuses), statuses
    json.loads((data / "config.json").read_text(encoding="utf-8"))
    pngs = list((data / "outputs").rglob("*.png"))
    assert pngs
    for png in pngs:
        with Image.open(png) as image:
            image.load()
    # what a kill can leave: temporaries beside their targets; the next start-up removes them
    (data / ".config.json.crash1.tmp").write_text('{"half": ')
    image_temp = pngs[0].parent / f".{'ab' * 16}.tmp"
    image_temp.write_bytes(b"\x89PNG half")
    again = RunningServer(data, ["--api", "--no-hashing"])
    try:
        again.wait_up("/sdapi/v1/sd-models")
        deadline = time.monotonic() + 30
        while (image_temp.exists() or list(data.glob(".config.json.*.tmp"))) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not image_temp.exists() and not list(data.glob(".config.json.*.tmp"))
        assert _post(again.url + "/sdapi/v1/txt2img", {"prompt": "a", "steps": 1, "width": 64, "height": 64}) == 200
    finally:
        again.stop()
