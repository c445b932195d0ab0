"""Each A1111 name extensions reach for (``modules.shared``, ``modules.processing``, ``launch`` ...) does what
it does in A1111, on a real Backend with a tiny checkpoint. A probe extension (written here) checks the loader
differences too: a script's ``__init__`` registers callbacks, scripts exist before ``on_ui_settings`` fires,
component events and ``on_before_ui`` fire while the page is built, ``on_infotext_pasted`` when pasting."""

from __future__ import annotations

import hashlib
import logging
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from modules.extensions import bridge
from tests.checkpoint_factory import write_checkpoint
from tests.helpers import make_backend

PROBE = {
    "preload.py": """
        import os

        from modules import paths


        def preload(parser):  # A1111's common pattern: a default under models_path, before the app exists
            parser.add_argument("--probe-flag", default="flag-default")
            parser.add_argument("--probe-dir", default=os.path.join(paths.models_path, "Probe"))
    """,
    "scripts/probe.py": """
        import gradio as gr
        from modules import script_callbacks, scripts
        from modules.shared import OptionInfo, opts

        SEEN = {"scripts_at_settings": None, "components": [], "before_ui": 0, "pasted": [], "saved": []}
        INSTANCES = []


        class Probe(scripts.Script):
            def __init__(self):
                INSTANCES.append(self)
                script_callbacks.on_before_image_saved(lambda params: SEEN["saved"].append(params.filename))

            def title(self):
                return "Compat probe"

            def show(self, is_img2img):
                return scripts.AlwaysVisible

            def process(self, p, *args):
                SEEN["opts_in_job"] = (opts.samples_format, opts.data["samples_format"])

            def after_component(self, component, **kwargs):
                if kwargs.get("elem_id") in ("txt2img_width", "img2img_height"):
                    SEEN["components"].append(kwargs["elem_id"])


        def on_settings():
            SEEN["scripts_at_settings"] = len(INSTANCES)
            slider_args = {"minimum": 0, "maximum": 1, "step": 0.1}
            info = OptionInfo(0.5, "Probe strength", gr.Slider, slider_args, section=("probe", "Probe"))
            opts.add_option("probe_strength", info.info("how strong"))


        script_callbacks.on_ui_settings(on_settings)
        script_callbacks.on_before_ui(lambda: SEEN.__setitem__("before_ui", SEEN["before_ui"] + 1))
        script_callbacks.on_infotext_pasted(lambda text, params: SEEN["pasted"].append((text, params.get("Steps"))))


        def one_row(params):
            SEEN["grid"] = (len(params.imgs), params.cols, params.rows)
            params.cols, params.rows = len(params.imgs), 1


        script_callbacks.on_image_grid(one_row)
    """,
}


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    data = tmp_path_factory.mktemp("facades")
    write_checkpoint("sd15_tiny", data / "models" / "Stable-diffusion" / "tiny.safetensors")
    for relative, text in PROBE.items():
        path = data / "extensions" / "compat-probe" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    backend = make_backend(data, preload=True)
    backend.data = data
    with bridge.activated(backend.extensions.contexts["compat-probe"]):
        yield backend


def probe_module(backend):
    loaded = next(s for s in backend.extensions.loaded_scripts if s.cls.__name__ == "Probe")
    return sys.modules[loaded.cls.__module__]


def test_loader_runs_init_in_context_and_creates_scripts_before_settings(backend):
    seen = probe_module(backend).SEEN
    assert seen["scripts_at_settings"] == 2  # one instance per tab existed when on_ui_settings fired
    option = backend.settings.registry.get("probe_strength")
    assert (option.component, option.minimum, option.maximum, option.section.id) == ("slider", 0, 1, "probe")
    assert option.info == "how strong"
    backend.scripts.before_image_saved(None, Image.new("RGB", (8, 8)), "text", "out.png")
    assert "out.png" in seen["saved"]  # registered from the script's __init__


def test_shared_opts_read_write_data_onchange_save(backend):
    from modules import shared

    assert shared.opts.samples_format == backend.settings.get("samples_format")
    assert shared.opts.probe_strength == 0.5
    assert shared.opts.temp_dir == ""  # an A1111 setting this program lacks: A1111's default
    # folder settings anchored at the data folder, as A1111's defaults are (extensions open them from their cwd)
    expected = Path(backend.paths.data) / backend.settings.get("outdir_txt2img_samples")
    assert Path(shared.opts.outdir_txt2img_samples) == expected
    assert Path(shared.opts.get("outdir_txt2img_samples")) == expected
    with pytest.raises(AttributeError):
        _ = shared.opts.no_such_setting
    calls = []
    shared.opts.onchange("probe_strength", lambda: calls.append(shared.opts.probe_strength), call=False)
    shared.opts.probe_strength = 0.7
    assert backend.settings.get("probe_strength") == 0.7 and calls == [0.7]
    assert shared.opts.data["probe_strength"] == 0.7
    shared.opts.save()
    assert '"probe_strength": 0.7' in Path(backend.paths.settings_file).read_text(encoding="utf-8")


def test_shared_opts_reads_the_jobs_override_settings_while_it_runs(backend):
    from modules import shared
    from modules.processing.params import GenerationParams

    shared_format = backend.settings.get("samples_format")
    override = "jpg" if shared_format != "jpg" else "webp"
    params = GenerationParams(
        prompt="o",
        width=64,
        height=64,
        steps=1,
        do_not_save_samples=True,
        override_settings={"samples_format": override},
    )
    backend.generation.run(params)
    assert probe_module(backend).SEEN["opts_in_job"] == (override, override)  # A1111: opts hold it for the job
    assert shared.opts.samples_format == shared_format == backend.settings.get("samples_format")  # and after
    backend.generation.run(GenerationParams(prompt="o", width=64, height=64, steps=1, do_not_save_samples=True))
    assert probe_module(backend).SEEN["opts_in_job"] == (shared_format, shared_format)


def test_shared_cmd_opts_state_model_styles_upscalers(backend):
    from modules import shared

    assert shared.cmd_opts.probe_flag == "flag-default"  # an extension's flag
    assert Path(shared.cmd_opts.probe_dir) == Path(backend.paths.models) / "Probe"
    assert Path(shared.cmd_opts.embeddings_dir) == Path(backend.paths.embeddings)  # A1111 fills folders in
    model = shared.sd_model
    assert model.is_sdxl is False and model.is_sd2 is False and model.is_sd1 is True
    assert model.sd_checkpoint_info.filename.endswith("tiny.safetensors")
    assert model.sd_checkpoint_info.model_name == "tiny"
    assert shared.prompt_styles.apply_styles_to_prompt("cat", []) == "cat"
    upscalers = shared.sd_upscalers
    lanczos = next(u for u in upscalers if u.name == "Lanczos")
    assert lanczos.scaler.upscale(Image.new("RGB", (16, 16)), 2, lanczos.data_path).size == (32, 32)
    shared.total_tqdm.updateTotal(3)

    def job(job_handle):
        shared.state.job_count = 5
        shared.state.textinfo = "probing"
        seen = (shared.state.job_count, shared.state.textinfo, shared.state.interrupted)
        job_handle.interrupt()
        return seen + (shared.state.interrupted,)

    with bridge.activated(backend.extensions.contexts["compat-probe"]):
        assert backend.jobs.run(job) == (5, "probing", False, True)
    assert shared.state.job_count == 0  # idle


def test_processing_builds_and_renders_through_the_queue(backend):
    from modules import processing

    p = processing.StableDiffusionProcessingTxt2Img(
        prompt="a cat", width=64, height=64, steps=2, seed=-1, sampler_name="Euler", do_not_save_samples=True
    )
    processing.fix_seed(p)
    assert p.seed >= 0
    assert p.sd_model.is_sd1 and "Compat probe" in [s.title() for s in p.scripts.alwayson_scripts]
    result = processing.process_images(p)
    assert isinstance(result, processing.Processed) and result.images[0].size == (64, 64)
    assert result.all_seeds == [p.seed] and "Steps: 2" in result.infotext(p, 0)
    assert backend.jobs.last is not None and backend.jobs.last.done  # it went through the job queue
    i2i = processing.StableDiffusionProcessingImg2Img(
        init_images=[Image.new("RGB", (64, 64), "red")], width=64, height=64, steps=2, denoising_strength=0.5
    )
    i2i.do_not_save_samples = True
    assert processing.process_images(i2i).images[0].size == (64, 64)
    assert "Seed: 5" in processing.create_infotext(p, [p.prompt], [5], [0])
    rgba = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    rgba.putpixel((1, 1), (0, 0, 0, 255))
    mask = processing.create_binary_mask(rgba)
    assert mask.mode == "L" and mask.getpixel((1, 1)) == 255 and mask.getpixel((0, 0)) == 0
    overlay = Image.new("RGBA", (4, 4), (0, 255, 0, 255))
    assert processing.apply_overlay(Image.new("RGB", (4, 4)), None, overlay).getpixel((0, 0)) == (0, 255, 0)


def test_images_devices_paths_hashes(backend, tmp_path):
    from modules import devices, hashes, images, paths

    saved, _txt = images.save_image(Image.new("RGB", (8, 8)), str(tmp_path), "", 3, "p", "png", info="parameters!")
    assert Path(saved).is_file() and Image.open(saved).info.get("parameters") == "parameters!"
    assert images.resize_image(1, Image.new("RGB", (64, 32)), 32, 32).size == (32, 32)
    flat = images.flatten(Image.new("RGBA", (2, 2), (0, 0, 0, 0)), "#ff0000")
    assert flat.mode == "RGB" and flat.getpixel((0, 0)) == (255, 0, 0)
    assert devices.device == backend.models.device_info.device and devices.dtype == backend.models.device_info.dtype
    devices.torch_gc()
    assert Path(paths.models_path) == Path(backend.paths.models) and Path(paths.data_path) == backend.data
    assert (Path(paths.script_path) / "webui.py").is_file()
    checkpoint = backend.data / "models" / "Stable-diffusion" / "tiny.safetensors"
    assert hashes.sha256(str(checkpoint), "checkpoint/tiny") == hashlib.sha256(checkpoint.read_bytes()).hexdigest()


def test_models_samplers_vae_networks_infotext(backend):
    from modules import extra_networks, generation_parameters_copypaste, infotext_utils, sd_models, sd_samplers, sd_vae

    assert any(title.startswith("tiny.safetensors") for title in sd_models.checkpoints_list)
    assert sd_models.get_closet_checkpoint_match("tiny").model_name == "tiny"
    assert "Euler a" in [s.name for s in sd_samplers.all_samplers]
    assert sd_vae.vae_dict == {}
    text, found = extra_networks.parse_prompt("a <lora:ink:0.5> cat")
    assert text == "a  cat" and found["lora"][0].positional == ["ink", "0.5"]
    parsed = infotext_utils.parse_generation_parameters("a cat\nSteps: 3, Sampler: Euler, Seed: 5")
    assert (parsed["Prompt"], parsed["Steps"], parsed["Seed"]) == ("a cat", 3, 5)
    assert generation_parameters_copypaste.parse_generation_parameters is infotext_utils.parse_generation_parameters


def test_ui_helpers(backend):
    import gradio as gr

    from modules import call_queue, masking, shared_items, ui_common, ui_components

    with gr.Blocks():
        button = ui_components.ToolButton("🔄", elem_id="probe_refresh")
        with ui_components.FormRow():
            multi = ui_components.DropdownMulti(choices=["a", "b"], value=["a"])
        with ui_components.InputAccordion(False, label="Probe accordion") as accordion:
            inner = gr.Textbox()
    assert button.get_block_name() == "button" and "tool" in button.elem_classes
    assert multi.multiselect and accordion.value is False and inner is not None
    assert ui_common.plaintext_to_html("a<b\nc") == "<p>a&lt;b<br>\nc</p>"
    import modules.ui

    assert modules.ui.plaintext_to_html is ui_common.plaintext_to_html and modules.ui.refresh_symbol == "\U0001f504"
    assert any(t.startswith("tiny.safetensors") for t in shared_items.list_checkpoint_tiles())

    def boom():
        raise ValueError("bad input")

    assert "bad input" in call_queue.wrap_gradio_call(boom)()[-1]
    mask = Image.new("L", (16, 16))
    mask.paste(255, (4, 4, 8, 8))
    assert masking.get_crop_region(mask, pad=1) == (3, 3, 9, 9)


def test_scripts_postprocessing_errors_and_script_lists(backend, caplog):
    from modules import errors, scripts, scripts_postprocessing

    class Extra(scripts_postprocessing.ScriptPostprocessing):
        name = "probe"

    pp = scripts_postprocessing.PostprocessedImage(Image.new("RGB", (2, 2)))
    Extra().process(pp)
    assert pp.image.size == (2, 2)
    with caplog.at_level(logging.ERROR):
        errors.run(lambda: 1 / 0, "probing errors")
    assert "probing errors" in caplog.text
    assert "Compat probe" in [s.title() for s in scripts.scripts_txt2img.alwayson_scripts]
    assert "X/Y/Z plot" in scripts.scripts_img2img.titles
    assert any(data.script_class.__name__ == "Probe" for data in scripts.scripts_data)
    assert scripts.basedir().endswith("compat-probe")
    listed = scripts.list_scripts("scripts", ".py")
    assert any(f.filename == "probe.py" and f.basedir.endswith("compat-probe") for f in listed)


def test_launch_installer_names(backend):
    import launch
    from modules import launch_utils

    assert launch.is_installed("pytest") and not launch.is_installed("surely-not-a-package-xyz")
    assert launch.run(f'"{sys.executable}" -c "print(41 + 1)"').strip() == "42"
    with pytest.raises(RuntimeError, match="probe failed"):
        launch.run(f'"{sys.executable}" -c "raise SystemExit(3)"', errdesc="probe failed")
    assert launch.args.probe_flag == "flag-default" and launch.args is not None
    assert isinstance(launch.git_tag(), str) and isinstance(launch.commit_hash(), str)
    assert launch_utils.run_pip is launch.run_pip


def test_internals_imports_say_what_is_missing(backend):
    with pytest.raises(ImportError, match="needs A1111 internals"):
        from modules import sd_hijack  # noqa: F401
    with pytest.raises(ModuleNotFoundError, match="needs A1111 internals"):
        import ldm.modules.attention  # noqa: F401


def test_page_build_fires_before_ui_and_component_events_and_paste_fires_infotext_pasted(backend):
    from modules.ui.blocks import build_ui
    from modules.ui.paste import parse

    seen = probe_module(backend).SEEN
    build_ui(backend)
    assert seen["before_ui"] == 1
    assert {"txt2img_width", "img2img_height"} <= set(seen["components"])
    parse(backend, "a dog\nSteps: 4, Sampler: Euler, Seed: 1")
    assert seen["pasted"][-1] == ("a dog\nSteps: 4, Sampler: Euler, Seed: 1", 4)


def test_every_a1111_callback_can_be_registered(backend):
    from modules import script_callbacks

    names = [
        "on_app_started", "on_model_loaded", "on_ui_tabs", "on_ui_train_tabs", "on_ui_settings",
        "on_before_image_saved", "on_image_saved", "on_cfg_denoiser", "on_cfg_denoised", "on_cfg_after_cfg",
        "on_before_component", "on_after_component", "on_image_grid", "on_infotext_pasted", "on_script_unloaded",
        "on_before_ui", "on_before_reload", "on_extra_noise", "on_list_optimizers", "on_list_unets",
        "on_before_token_counter",
    ]  # fmt: skip
    callbacks = backend.extensions.callbacks
    for name in names:
        getattr(script_callbacks, name)(lambda *a, **k: None, name=f"probe-{name}")
        assert any(c.name == f"probe-{name}" for c in callbacks.get(name[3:])), name


def test_before_token_counter_changes_what_is_counted(backend):
    import re

    from modules import script_callbacks, shared
    from modules.ui.toprow import token_count_text

    assert shared.sd_model is not None  # a model to count with
    seen = []

    def longer(params):
        seen.append((params.prompt, params.is_positive))
        params.prompt += " and five more words"

    def used(html: str) -> int:
        return int(re.search(r">(\d+)/\d+<", html).group(1))

    plain = used(token_count_text(backend, "a cat"))
    script_callbacks.on_before_token_counter(longer, name="probe-longer")
    try:
        assert used(token_count_text(backend, "a cat", False)) > plain
    finally:
        script_callbacks.remove_callbacks_for_function(longer)
    assert seen == [("a cat", False)]
    assert used(token_count_text(backend, "a cat")) == plain


def test_callbacks_that_cannot_fire_here_say_so_when_registered(backend, caplog):
    from modules import script_callbacks

    with caplog.at_level(logging.INFO, logger="modules.extensions.callbacks"):
        script_callbacks.on_ui_train_tabs(lambda params: None, name="probe-train")
        script_callbacks.on_list_unets(lambda unets: None, name="probe-unets")
    lines = [r.getMessage() for r in caplog.records if "will never run" in r.getMessage()]
    assert any("compat-probe" in line and "on_ui_train_tabs" in line and "Train tab" in line for line in lines)
    assert any("on_list_unets" in line for line in lines) and len(lines) == 2


def test_image_grid_callback_changes_the_grid_layout(backend):
    from modules.processing.params import GenerationParams

    result = backend.generation.run(
        GenerationParams(prompt="grid", width=64, height=64, steps=1, batch_size=4, do_not_save_samples=True)
    )
    assert probe_module(backend).SEEN["grid"] == (4, 2, 2)  # A1111's default layout, offered to the callback
    assert result.images[0].size == (256, 64)  # the callback asked for one row


def test_the_core_never_imports_the_facades(tmp_path):
    """A generation (built-in extensions loaded, the page built) leaves ``modules.a1111`` unimported."""
    import subprocess

    program = Path(__file__).resolve().parents[1]
    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        sys.path.insert(0, {str(program)!r})
        from tests.checkpoint_factory import write_checkpoint
        from tests.helpers import make_backend
        from modules.processing.params import GenerationParams
        from modules.ui.blocks import build_ui
        data = Path({str(tmp_path)!r})
        write_checkpoint("sd15_tiny", data / "models" / "Stable-diffusion" / "tiny.safetensors")
        backend = make_backend(data)
        build_ui(backend)
        backend.generation.run(GenerationParams(prompt="x", width=64, height=64, steps=1, batch_size=2))
        print(sorted(name for name in sys.modules if name.startswith("modules.a1111")))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=program)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
