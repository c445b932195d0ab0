"""Real A1111 extensions (../shared/fixtures/a1111-extensions, copied, never edited) through the HTTP API.

One server holds all six fixture extensions: each loads (the start-up line says so), wildcards replaces
``__color__`` from its wildcard file, dynamic-prompts expands ``{red|green|blue}`` across a batch (its
package came from its own install.py, with the app's pinned packages unchanged), and Ultimate SD upscale is
in the img2img Script list and makes a 64x64 image 128x128. Start-up survives what real extensions do wrong:
a copy of the built-in ControlNet with a clashing preload.py, a preload that raises, a failing install.py.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.checkpoint_factory import write_checkpoint

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "a1111-extensions"  # ../shared/fixtures
NAMES = (
    "stable-diffusion-webui-wildcards",
    "sd-dynamic-prompts",
    "ultimate-upscale-for-automatic1111",
    "a1111-sd-webui-tagcomplete",
    "sd-webui-aspect-ratio-helper",
    "stable-diffusion-webui-images-browser",
)
FAST = {"width": 64, "height": 64, "steps": 2, "cfg_scale": 5.0, "seed": 7, "sampler_name": "Euler"}
PROGRAM = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"fixture extensions not found at {FIXTURES}")


def pinned_freeze() -> dict[str, str]:
    """``pip freeze`` lines of the packages requirements.txt names (what no extension may change)."""
    from modules.extensions.pip_guard import app_requirement_names, canonical

    wanted = {canonical(name) for name in app_requirement_names()}
    out = subprocess.run([sys.executable, "-m", "pip", "freeze"], capture_output=True, text=True, check=True).stdout
    lines = {}
    for line in out.splitlines():
        name = line.split("==")[0].split(" @ ")[0].strip()
        if canonical(name) in wanted:
            lines[canonical(name)] = line
    return lines


def build_app(data: Path, *args: str):
    """(backend, app) as webui.py builds them, extension preload flags included."""
    import webui
    from modules.extensions.preload import collect_preload_hooks
    from modules.settings.cli import parse_flags
    from modules.web import create_app

    argv = ["--api", "--nowebui", "--data-dir", str(data), *args]
    backend = webui.build_backend(parse_flags(argv, extra=collect_preload_hooks(argv)))
    return backend, create_app(backend)


def png_b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def decode(text: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(text)))


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    data = tmp_path_factory.mktemp("a1111-ext")
    write_checkpoint("sd15_tiny", data / "models" / "Stable-diffusion" / "tiny.safetensors")
    for name in NAMES:
        shutil.copytree(FIXTURES / name, data / "extensions" / name)
    wildcards = data / "extensions" / "stable-diffusion-webui-wildcards" / "wildcards"
    wildcards.mkdir(exist_ok=True)
    (wildcards / "color.txt").write_text("crimson\n", encoding="utf-8")
    pins_before = pinned_freeze()
    backend, app = build_app(data)
    backend.start_background_init()
    assert backend.wait_ready(120)
    backend.jobs.run(lambda job: None)  # the start-up checkpoint load is queued first
    with TestClient(app) as client:
        client.backend = backend
        client.pins_before = pins_before
        yield client


def post(api, route: str, **fields):
    answer = api.post(f"/sdapi/v1/{route}", json={**FAST, **fields})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_all_fixture_extensions_load_and_the_count_is_true(api):
    manager = api.backend.extensions
    by_name = {ext.name: ext for ext in manager.extensions}
    for name in NAMES:
        assert by_name[name].active and not by_name[name].failed, (name, by_name[name].status)
    assert manager.summary().startswith(f"Extensions: {len(NAMES) + 1} loaded, 0 failed")  # + built-in ControlNet
    titles = {str(s.title()) for s in api.backend.scripts.scripts(False)}
    assert {"Simple wildcards", "Aspect Ratio Helper"} <= titles
    assert any(t.startswith("Dynamic Prompts") for t in titles)  # imported from its own package (loader fix 1)


def test_wildcards_replace_a_name_from_the_wildcard_file(api):
    result = post(api, "txt2img", prompt="a __color__ cat")
    info = json.loads(result["info"])
    assert info["all_prompts"] == ["a crimson cat"]
    assert "Wildcard prompt: a __color__ cat" in info["infotexts"][0]
    assert api.backend.settings.get("wildcards_write_infotext") is True  # its on_ui_settings option exists


def test_dynamic_prompts_expand_variants_across_a_batch(api):
    runner = api.backend.scripts
    title = next(str(s.title()) for s in runner.alwayson(False) if str(s.title()).startswith("Dynamic Prompts"))
    combinatorial = post(
        api,
        "txt2img",
        prompt="{red|green|blue} cat",
        batch_size=3,
        alwayson_scripts={title: {"args": [True, True]}},
    )
    prompts = json.loads(combinatorial["info"])["all_prompts"]
    assert sorted(prompts) == ["blue cat", "green cat", "red cat"]
    assert [decode(i).size for i in combinatorial["images"][-3:]] == [(64, 64)] * 3  # after A1111's grid
    random_mode = post(api, "txt2img", prompt="{red|green|blue} dog", batch_size=3)  # its UI default: enabled
    assert set(json.loads(random_mode["info"])["all_prompts"]) <= {"red dog", "green dog", "blue dog"}


def test_dynamic_prompts_package_came_from_its_install_py_and_pins_are_unchanged(api):
    import importlib.metadata

    assert importlib.metadata.version("dynamicprompts").startswith("0.31.")
    assert pinned_freeze() == api.pins_before


def test_ultimate_sd_upscale_is_listed_and_upscales_64_to_128(api):
    scripts = api.get("/sdapi/v1/scripts").json()
    assert (
        "ultimate sd upscale" in scripts["img2img"] and "ultimate sd upscale" not in scripts["txt2img"]
    )  # A1111: lower
    # args as its UI returns them: info, tile 64x64, blur, padding, seams (off), upscaler 1 (Lanczos),
    # save off, Linear redraw, ..., target size "Scale from image size" x2
    args = ["", 64, 64, 8, 32, 64, 0.35, 16, 1, False, 0, False, 4, 0, 2, 2048, 2048, 2]
    source = Image.new("RGB", (64, 64), (200, 40, 40))
    result = post(
        api,
        "img2img",
        prompt="a red square",
        init_images=[png_b64(source)],
        denoising_strength=0.2,
        script_name="Ultimate SD upscale",
        script_args=args,
    )
    image = decode(result["images"][0])
    assert image.size == (128, 128)
    assert "Ultimate SD upscale upscaler: Lanczos" in json.loads(result["info"])["infotexts"][0]


def add(root: Path, name: str, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / name / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root / name


def test_start_up_survives_clashing_and_failing_extensions(tmp_path, caplog):
    from modules.ui.tab_extensions import installed_table

    extensions = tmp_path / "extensions"
    # a user copy of the built-in ControlNet, as Mikubill's: its preload adds the flag ours already has
    add(
        extensions,
        "sd-webui-controlnet",
        {
            "preload.py": "def preload(parser):\n    parser.add_argument('--controlnet-dir', default=None)\n",
            "scripts/cn.py": "raise AssertionError('a covered extension must not be imported')\n",
        },
    )
    add(extensions, "raising-preload", {"preload.py": "def preload(parser):\n    raise ValueError('preload boom')\n"})
    add(
        extensions,
        "clashing-flag",
        {"preload.py": "def preload(parser):\n    parser.add_argument('--data-dir', default='x')\n"},
    )
    add(  # Mikubill's ControlNet cloned under another folder name: its flag clashes with the built-in one's
        extensions,
        "sd-webui-controlnet-main",
        {"preload.py": "def preload(parser):\n    parser.add_argument('--controlnet-dir', default=None)\n"},
    )
    add(extensions, "failing-install", {"install.py": "raise SystemExit('install boom')\n"})
    add(extensions, "fine", {"scripts/ok.py": "from modules import shared\nSEEN = shared.opts.samples_format\n"})
    with caplog.at_level(logging.INFO):
        backend, _app = build_app(tmp_path)
    manager = backend.extensions
    status = {ext.name: ext for ext in manager.extensions}
    covered = status["sd-webui-controlnet"]
    assert not covered.is_builtin and not covered.active
    assert "built-in extension sd-webui-controlnet" in covered.status
    assert status["raising-preload"].failed and "preload boom" in status["raising-preload"].status
    assert status["clashing-flag"].failed and "--data-dir" in status["clashing-flag"].status
    renamed = status["sd-webui-controlnet-main"]
    assert renamed.failed and "--controlnet-dir" in renamed.status
    assert "built-in extension sd-webui-controlnet has these flags and is used instead" in renamed.status
    assert status["failing-install"].failed and "install boom" in status["failing-install"].status
    assert status["fine"].active and not status["fine"].failed
    builtin = next(ext for ext in manager.extensions if ext.is_builtin and ext.name == "sd-webui-controlnet")
    assert builtin.active  # the built-in one is used
    table = installed_table(manager)
    assert "covers it" in table and "preload boom" in table and "install boom" in table
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("Extensions: "))
    assert line.startswith("Extensions: 2 loaded, 5 failed")  # built-in ControlNet + fine
    assert "raising-preload" in line and "failing-install" in line
