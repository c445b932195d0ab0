"""Request → GenerationParams at the API edge: A1111's API defaults, aliases, legacy names, scripts, infotext."""

from __future__ import annotations

import pytest

from modules.api.errors import ApiError
from modules.api.generation import to_params
from modules.api.models import Img2ImgRequest, Txt2ImgRequest
from modules.processing.samplers import SamplerError
from tests.test_api_helpers import build, png_b64


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    return build(tmp_path_factory.mktemp("params"))[0]


def test_txt2img_defaults_are_a1111_api_defaults(backend):
    params = to_params(backend, Txt2ImgRequest.model_validate({"prompt": "a cat", "unknown_field": 1}))
    assert (params.mode, params.prompt, params.steps, params.sampler_name, params.scheduler) == (
        "txt2img",
        "a cat",
        50,
        "Euler",
        "Automatic",
    )
    assert (params.cfg_scale, params.width, params.height, params.batch_size, params.n_iter) == (7.0, 512, 512, 1, 1)
    assert (params.seed, params.subseed, params.subseed_strength) == (-1, -1, 0.0)
    assert params.do_not_save_samples and params.do_not_save_grid and not params.enable_hr
    assert params.denoising_strength is None and params.hr_upscaler == "Latent"
    nulls = to_params(backend, Txt2ImgRequest.model_validate({"steps": None, "seed": None, "styles": None}))
    assert (nulls.steps, nulls.seed, nulls.styles) == (50, -1, ())
    saved = to_params(backend, Txt2ImgRequest(save_images=True))
    assert not saved.do_not_save_samples and not saved.do_not_save_grid


def test_img2img_defaults_differ_from_the_ui(backend):
    params = to_params(backend, Img2ImgRequest(init_images=[png_b64()], mask=png_b64(color=(255, 255, 255))))
    assert params.mode == "img2img" and params.init_images[0].size == (64, 64) and params.mask is not None
    assert (params.inpainting_fill, params.inpaint_full_res, params.inpaint_full_res_padding) == (0, True, 0)
    assert (params.denoising_strength, params.mask_blur, params.resize_mode, params.steps) == (0.75, 4, 0, 50)
    blurred = to_params(backend, Img2ImgRequest(init_images=[png_b64()], mask_blur=9))
    assert (blurred.mask_blur_x, blurred.mask_blur_y) == (9, 9)
    with pytest.raises(ApiError) as error:
        to_params(backend, Img2ImgRequest(init_images=[png_b64(), "garbage!"]))
    assert error.value.status_code == 400 and "init_images[1]" in error.value.detail


def test_sampler_names_aliases_and_legacy_schedules(backend):
    def sampler(**fields):
        params = to_params(backend, Txt2ImgRequest(**fields))
        return params.sampler_name, params.scheduler

    assert sampler(sampler_index="DPM++ 2M Karras") == ("DPM++ 2M", "Karras")
    assert sampler(sampler_name="k_euler_a", sampler_index="Heun") == ("Euler a", "Automatic")
    assert sampler(sampler_name="DPM++ SDE", scheduler="exponential") == ("DPM++ SDE", "Exponential")
    assert sampler(sampler_name="euler", scheduler="SGMUniform") == ("Euler", "SGM Uniform")
    with pytest.raises(SamplerError, match="Unknown sampler"):
        to_params(backend, Txt2ImgRequest(sampler_name="Sampler of Doom"))
    hires = to_params(
        backend, Txt2ImgRequest(enable_hr=True, hr_sampler_name="DPM++ 2M Karras", hr_upscaler="Latent (bicubic)")
    )
    assert (hires.hr_sampler_name, hires.hr_scheduler, hires.denoising_strength) == ("DPM++ 2M", "Karras", 0.75)
    with pytest.raises(ApiError, match="hr_upscaler"):
        to_params(backend, Txt2ImgRequest(enable_hr=True, hr_upscaler="No such upscaler"))


def test_legacy_firstphase_hires_fields(backend):
    params = to_params(
        backend, Txt2ImgRequest(enable_hr=True, width=128, height=96, firstphase_width=64, firstphase_height=48)
    )
    assert (params.width, params.height, params.hr_resize_x, params.hr_resize_y) == (64, 48, 128, 96)


def test_override_settings_are_validated_overlays(backend):
    from modules.settings.registry import OptionInfo
    from modules.settings.sections import API

    backend.settings.registry.add(OptionInfo("api_secret_path", "x", "Secret", API, restrict_api=True))
    params = to_params(
        backend,
        Txt2ImgRequest(
            override_settings={
                "show_progress_every_n_steps": "3",
                "api_secret_path": "/etc",
                "unknown_extension_key": [1],
            }
        ),
    )
    assert params.override_settings == {"show_progress_every_n_steps": 3, "unknown_extension_key": [1]}
    assert backend.settings.get("show_progress_every_n_steps") == 10
    with pytest.raises(ApiError) as error:
        to_params(backend, Txt2ImgRequest(override_settings={"show_progress_every_n_steps": "many"}))
    assert error.value.status_code == 422 and "override_settings.show_progress_every_n_steps" in error.value.detail


def test_scripts_match_titles_case_insensitively(backend):
    """Against the real script catalogue (built-in scripts and the shipped ControlNet extension)."""
    params = to_params(
        backend,
        Txt2ImgRequest(
            alwayson_scripts={"controlnet": {"args": [{"enabled": False}]}},
            script_name="x/y/z PLOT",
            script_args=[1, "a"],
        ),
    )
    assert [(s.title, s.args) for s in params.alwayson_scripts] == [("ControlNet", ({"enabled": False},))]
    assert params.script_name == "X/Y/Z plot" and params.script_args == (1, "a")
    bad_unit = {"enabled": True, "module": "canny", "model": "no-such-model", "image": png_b64()}
    for bad, word in (
        ({"alwayson_scripts": {"Nope": {"args": []}}}, "Nope"),
        ({"alwayson_scripts": {"X/Y/Z plot": {}}}, "selectable"),
        ({"script_name": "Nope"}, "Nope"),
        ({"alwayson_scripts": {"ControlNet": {"args": 5}}}, "args"),
        ({"alwayson_scripts": {"ControlNet": {"args": [bad_unit]}}}, "no-such-model"),
    ):
        with pytest.raises(ApiError) as error:
            to_params(backend, Txt2ImgRequest(**bad))
        assert error.value.status_code == 422 and word in error.value.detail


def test_infotext_fills_only_fields_not_given(backend):
    from modules.api.request_infotext import apply_infotext

    text = "a cat\nNegative prompt: dog\nSteps: 7, Sampler: Heun, CFG scale: 5, Seed: 9, Size: 64x128, Clip skip: 2"
    request = apply_infotext(backend, Txt2ImgRequest(infotext=text, steps=3))
    params = to_params(backend, request)
    assert (params.prompt, params.negative_prompt, params.steps, params.sampler_name) == ("a cat", "dog", 3, "Heun")
    assert (params.cfg_scale, params.seed, params.width, params.height) == (5.0, 9, 64, 128)
    assert not params.enable_hr
