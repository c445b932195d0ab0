"""Start-up time as a user meets it: process start → first HTTP 200 on ``/`` with the full UI.

Compared in the same run (alternating, median of N) with the floor: a minimal Gradio Blocks app with one
textbox served the same way. Then, once, the time until a tiny checkpoint is loaded and a first 64×64 image
comes back from the API.

    venv/bin/python benchmarks/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MINIMAL_APP = """
import sys, gradio as gr
with gr.Blocks() as demo:
    gr.Textbox(label="text")
demo.launch(server_name="127.0.0.1", server_port=int(sys.argv[1]), prevent_thread_lock=False, ssr_mode=False)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def time_until_200(command: list[str], url: str, timeout: float = 180.0, env=None) -> tuple[float, subprocess.Popen]:
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    while time.perf_counter() - started < timeout:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    response.read()
                    return time.perf_counter() - started, proc
        except Exception:
            time.sleep(0.02)
    proc.kill()
    raise TimeoutError(url)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def post_json(url: str, payload: dict, timeout: float = 300.0) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def first_image_time(data_dir: Path) -> tuple[float, float]:
    """(seconds to tiny checkpoint loaded, seconds to first 64×64 image), both from process start."""
    from tests.checkpoint_factory import write_checkpoint

    write_checkpoint("sd15_tiny", data_dir / "models" / "Stable-diffusion" / "tiny.safetensors")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        str(ROOT / "launch.py"),
        "--skip-install",
        "--api",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
    ]
    started = time.perf_counter()
    _, proc = time_until_200(command, url + "/")
    try:
        loaded = None
        while time.perf_counter() - started < 300:
            with urllib.request.urlopen(url + "/webui/status", timeout=5) as response:
                if json.loads(response.read())["model_loaded"]:
                    loaded = time.perf_counter() - started
                    break
            time.sleep(0.05)
        result = post_json(url + "/sdapi/v1/txt2img", {"prompt": "a cat", "steps": 4, "width": 64, "height": 64})
        base64.b64decode(result["images"][0])
        return loaded or float("nan"), time.perf_counter() - started
    finally:
        stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    ours, floor = [], []
    with tempfile.TemporaryDirectory() as tmp:
        minimal = Path(tmp) / "minimal_app.py"
        minimal.write_text(MINIMAL_APP)
        for run in range(args.runs):
            port = free_port()
            seconds, proc = time_until_200([sys.executable, str(minimal), str(port)], f"http://127.0.0.1:{port}/")
            stop(proc)
            floor.append(seconds)
            port = free_port()
            data = Path(tmp) / f"data{run}"
            data.mkdir()
            seconds, proc = time_until_200(
                [
                    sys.executable,
                    str(ROOT / "launch.py"),
                    "--skip-install",
                    "--port",
                    str(port),
                    "--data-dir",
                    str(data),
                ],
                f"http://127.0.0.1:{port}/",
            )
            stop(proc)
            ours.append(seconds)
            print(f"run {run + 1}: minimal gradio {floor[-1]:.2f} s, webui {ours[-1]:.2f} s", flush=True)
        ours_median, floor_median = statistics.median(ours), statistics.median(floor)
        print(f"\nmedian time to first HTTP 200 on / ({args.runs} runs):")
        print(f"  minimal Gradio Blocks app : {floor_median:.2f} s")
        print(f"  this WebUI (full UI)      : {ours_median:.2f} s")
        print(f"  ratio                     : {ours_median / floor_median:.2f}x (goal <= 1.3x)")
        data = Path(tmp) / "first-image"
        data.mkdir()
        loaded, first = first_image_time(data)
        print(
            f"\nfrom process start: tiny checkpoint loaded after {loaded:.2f} s, first 64x64 image after {first:.2f} s"
        )


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
