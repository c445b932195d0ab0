"""ui-config.json (--ui-config-file): stored defaults reach the page, missing keys are written out."""

from __future__ import annotations

import json

from modules.ui.blocks import build_ui
from tests.helpers import make_backend


def _component(demo, elem_id):
    return next(c for c in demo.blocks.values() if getattr(c, "elem_id", None) == elem_id)


def test_ui_config_defaults_apply_and_file_lists_all(tmp_path):
    config = tmp_path / "my-ui.json"
    config.write_text(json.dumps({"txt2img/Sampling steps/value": 33, "img2img/Denoising strength/value": 0.4}))
    backend = make_backend(tmp_path, ["--ui-config-file", str(config)], load_model=False)
    demo = build_ui(backend)
    assert _component(demo, "txt2img_steps").value == 33
    assert _component(demo, "img2img_denoising_strength").value == 0.4
    written = json.loads(config.read_text())
    assert written["txt2img/Sampling steps/value"] == 33
    assert written["txt2img/Sampling steps/maximum"] == 150
    assert "txt2img/CFG Scale/value" in written


def test_broken_ui_config_is_ignored(tmp_path):
    config = tmp_path / "ui-config.json"
    config.write_text("{ broken")
    backend = make_backend(tmp_path, load_model=False)
    demo = build_ui(backend)
    assert _component(demo, "txt2img_steps").value == 20
    assert config.read_text() == "{ broken"
