"""The denoise loop on tiny random UNets: parity with diffusers' pipelines, every sampler, hooks, CFG, masks.

Parity setup: our "Euler" + "Automatic" uses k-diffusion's model schedule (timesteps linspace(999, 0, n),
log-sigma interpolation). diffusers' EulerDiscreteScheduler reproduces it when given the same sigmas through
``sigmas=`` with ``timestep_spacing="linspace"`` (so its initial noise sigma is sigmas[0]). Residual differences
(~1e-6 relative) come from the training alphas: A1111 accumulates them in float64, diffusers in float32.
"""

from __future__ import annotations

import dataclasses
import warnings

import pytest
import torch
from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerDiscreteScheduler,
    StableDiffusionImg2ImgPipeline,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
    UniPCMultistepScheduler,
)

from modules.models.sd_model import Conditioning
from modules.processing import denoise, k_samplers, k_solvers, samplers
from modules.processing.denoise_input import (
    DenoiseInput,
    DenoiseResult,
    Img2ImgInput,
    LoopControl,
    ModelInput,
    NoiseInput,
    SamplerChoice,
)
from modules.processing.hooks import HookPoint, HookRegistry, StaticCondProvider
from modules.processing.samplers import SamplerError
from modules.processing.schedules import ModelSigmas

CONFIG = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
}
V_CONFIG = {**CONFIG, "prediction_type": "v_prediction"}
SD_UNET = {
    "block_out_channels": (32, 64),
    "layers_per_block": 1,
    "sample_size": 8,
    "out_channels": 4,
    "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"),
    "cross_attention_dim": 32,
    "attention_head_dim": 8,
    "norm_num_groups": 32,
}


def close(ours: torch.Tensor, reference: torch.Tensor) -> None:
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-4)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models gain nothing from threads, and on a shared 2-core box OpenMP spinning costs 10x."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def unet():
    torch.manual_seed(0)
    return UNet2DConditionModel(in_channels=4, **SD_UNET).eval()


@pytest.fixture(scope="module")
def sdxl_unet():
    torch.manual_seed(0)
    return UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        norm_num_groups=32,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=80,
    ).eval()


@pytest.fixture(scope="module")
def texts():
    generator = torch.Generator().manual_seed(1)
    return {name: torch.randn(2, 7, 32, generator=generator) for name in ("cond", "uncond", "other")}


@pytest.fixture
def noise():
    return torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(2))


def provider(texts, batch=1, **kwargs):
    return StaticCondProvider(Conditioning(texts["cond"][:batch]), Conditioning(texts["uncond"][:batch]), **kwargs)


def pipeline(unet, scheduler, cls=StableDiffusionPipeline):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = cls(
            vae=None,
            text_encoder=None,
            tokenizer=None,
            unet=unet,
            scheduler=scheduler,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def denoise_input(unet, noise, texts, sampler="Euler", steps=6, cfg_scale=7.0, config=CONFIG, **kwargs):
    """A ``DenoiseInput`` from the loop's parameters by name (the groups are filled from the keywords)."""
    init_latent = kwargs.pop("init_latent", None)
    img2img = None
    if init_latent is not None:
        img2img = Img2ImgInput(
            init_latent, kwargs.pop("denoising_strength", 1.0), latent_mask=kwargs.pop("latent_mask", None)
        )
    sampler_keys = ("eta", "s_churn", "s_tmin", "s_tmax", "s_noise", "s_min_uncond")
    return DenoiseInput(
        model=ModelInput(
            unet,
            kwargs.pop("conds", None) or provider(texts, noise.shape[0]),
            config,
            add_time_ids=kwargs.pop("add_time_ids", None),
            image_conditioning=kwargs.pop("image_conditioning", None),
        ),
        sampler=SamplerChoice(
            sampler,
            kwargs.pop("schedule", "Automatic"),
            steps,
            cfg_scale,
            **{key: kwargs.pop(key) for key in sampler_keys if key in kwargs},
        ),
        noise=NoiseInput(noise, draw=kwargs.pop("noise_fn", None)),
        img2img=img2img,
        hooks=kwargs.pop("hooks", None),
        control=LoopControl(kwargs.pop("progress", None), kwargs.pop("should_stop", None), console_progress=False),
        settings=kwargs.pop("settings", None),
        **kwargs,
    )


def run_result(unet, noise, texts, *args, **kwargs) -> DenoiseResult:
    return denoise.sample(denoise_input(unet, noise, texts, *args, **kwargs))


def run(unet, noise, texts, *args, **kwargs) -> torch.Tensor:
    return run_result(unet, noise, texts, *args, **kwargs).latents


def diffusers_txt2img(unet, scheduler, texts, latents, **kwargs):
    return pipeline(unet, scheduler)(
        prompt_embeds=texts["cond"][:1],
        negative_prompt_embeds=texts["uncond"][:1],
        latents=latents.clone(),
        guidance_scale=7.0,
        output_type="latent",
        height=64,
        width=64,
        **kwargs,
    ).images


def feed_sigmas(scheduler, steps):
    """A setup hook that makes our loop walk the diffusers scheduler's own sigmas."""
    scheduler.set_timesteps(steps)
    sigmas = scheduler.sigmas.clone()
    hooks = HookRegistry()
    hooks.add(HookPoint.SETUP, lambda context: setattr(context, "sigmas", sigmas))
    return hooks, float(sigmas[0])


# --- parity with diffusers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("config", [CONFIG, V_CONFIG], ids=["epsilon", "v_prediction"])
def test_euler_txt2img_matches_diffusers(unet, texts, noise, config):
    sigmas = ModelSigmas.from_config(config).uniform(8)
    ours = run(unet, noise, texts, "Euler", 8, config=config)
    scheduler = EulerDiscreteScheduler(**config, timestep_spacing="linspace")
    close(ours, diffusers_txt2img(unet, scheduler, texts, noise, sigmas=sigmas.tolist()))


def test_euler_img2img_matches_diffusers(unet, texts):
    """A1111 runs int(0.6 * 10) + 1 = 7 steps of a 10-step schedule; diffusers runs int(strength * 10): 0.7."""
    init = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    noise = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(5))
    ours = run(unet, noise, texts, "Euler", 10, init_latent=init, denoising_strength=0.6)
    scheduler = EulerDiscreteScheduler(**CONFIG, timestep_spacing="linspace")
    pipe = pipeline(unet, scheduler, StableDiffusionImg2ImgPipeline)
    reference = pipe(
        prompt_embeds=texts["cond"][:1],
        negative_prompt_embeds=texts["uncond"][:1],
        image=init,
        strength=0.7,
        sigmas=ModelSigmas.from_config(CONFIG).uniform(10).tolist(),
        guidance_scale=7.0,
        output_type="latent",
        generator=torch.Generator().manual_seed(5),
    ).images
    close(ours, reference)


def test_sdxl_matches_diffusers(sdxl_unet, texts, noise):
    pooled, negative_pooled = torch.randn(2, 1, 32, generator=torch.Generator().manual_seed(4))
    conds = StaticCondProvider(
        Conditioning(texts["cond"][:1], pooled), Conditioning(texts["uncond"][:1], negative_pooled)
    )
    time_ids = torch.tensor([[64.0, 64.0, 0.0, 0.0, 64.0, 64.0]])
    ours = run(sdxl_unet, noise, texts, "Euler", 6, 5.0, conds=conds, add_time_ids=time_ids)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = StableDiffusionXLPipeline(
            vae=None,
            text_encoder=None,
            text_encoder_2=None,
            tokenizer=None,
            tokenizer_2=None,
            unet=sdxl_unet,
            add_watermarker=False,
            scheduler=EulerDiscreteScheduler(**CONFIG, timestep_spacing="linspace"),
        )
    pipe.set_progress_bar_config(disable=True)
    reference = pipe(
        prompt_embeds=texts["cond"][:1],
        negative_prompt_embeds=texts["uncond"][:1],
        pooled_prompt_embeds=pooled,
        negative_pooled_prompt_embeds=negative_pooled,
        latents=noise.clone(),
        sigmas=ModelSigmas.from_config(CONFIG).uniform(6).tolist(),
        guidance_scale=5.0,
        output_type="latent",
        height=64,
        width=64,
    ).images
    close(ours, reference)
    with pytest.raises(SamplerError, match="add_time_ids"):
        run(sdxl_unet, noise, texts, conds=conds)


def test_ddim_matches_diffusers_ddim(unet, texts, noise):
    """A1111's DDIM timesteps (1, 101, ..., 901) are diffusers' "leading" + steps_offset 1; both start from unit
    noise (VP). A1111's last step goes to alphas_cumprod[0] (t = 0) and returns those latents as they are:
    diffusers' ``set_alpha_to_one=False`` (the A1111 reference replay checks the same against A1111)."""
    ours = run(unet, noise, texts, "DDIM", 10)
    scheduler = DDIMScheduler(
        **CONFIG, timestep_spacing="leading", steps_offset=1, set_alpha_to_one=False, clip_sample=False
    )
    close(ours, diffusers_txt2img(unet, scheduler, texts, noise, num_inference_steps=10))


def test_dpmpp_2m_matches_diffusers_dpm_solver(unet, texts, noise):
    scheduler = DPMSolverMultistepScheduler(
        **CONFIG, timestep_spacing="linspace", algorithm_type="dpmsolver++", solver_order=2, final_sigmas_type="zero"
    )
    hooks, sigma_max = feed_sigmas(scheduler, 8)
    ours = run(unet, noise, texts, "DPM++ 2M", 8, hooks=hooks)
    vp_start = noise * sigma_max / (1 + sigma_max**2) ** 0.5  # the same start point in diffusers' VP space
    close(ours, diffusers_txt2img(unet, scheduler, texts, vp_start, num_inference_steps=8))


def test_unipc_matches_diffusers_unipc(unet, texts, noise):
    scheduler = UniPCMultistepScheduler(
        **CONFIG,
        timestep_spacing="linspace",
        solver_order=3,
        solver_type="bh2",
        lower_order_final=True,
        final_sigmas_type="zero",
    )
    hooks, _ = feed_sigmas(scheduler, 8)
    ours = run(unet, noise, texts, "UniPC", 8, hooks=hooks, settings={"uni_pc_variant": "bh2"})
    close(ours, diffusers_txt2img(unet, scheduler, texts, noise, num_inference_steps=8))


# --- every sampler and schedule -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", samplers.sampler_names())
def test_every_sampler_is_finite_and_deterministic(unet, texts, name):
    noise = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(7))
    outputs, counts = [], []
    for _ in range(2):
        generator = torch.Generator().manual_seed(11)
        steps_seen: list[int] = []
        outputs.append(
            run(
                unet,
                noise,
                texts,
                name,
                5,
                noise_fn=lambda shape, seeded=generator: torch.randn(shape, generator=seeded),
                progress=lambda step, total, latents, seen=steps_seen: seen.append(step),
            )
        )
        counts.append(steps_seen)
    assert outputs[0].shape == (2, 4, 8, 8) and bool(outputs[0].isfinite().all())
    assert torch.equal(outputs[0], outputs[1]) and counts[0] == counts[1] and counts[0]


@pytest.mark.parametrize("schedule", [s.label for s in samplers.SCHEDULES])
def test_every_schedule_runs(unet, texts, noise, schedule):
    out = run(unet, noise, texts, "DPM++ 2M", 4, schedule=schedule)
    assert bool(out.isfinite().all())


def test_ancestral_noise_comes_from_noise_fn_and_eta_zero_is_euler(unet, texts, noise):
    def seeded(seed):
        generator = torch.Generator().manual_seed(seed)
        return lambda shape: torch.randn(shape, generator=generator)

    a, b = (run(unet, noise, texts, "Euler a", 5, noise_fn=seeded(seed)) for seed in (1, 2))
    assert not torch.allclose(a, b)
    no_eta = run_result(unet, noise, texts, "Euler a", 5, eta=0.0, noise_fn=seeded(1))
    close(no_eta.latents, run(unet, noise, texts, "Euler", 5))
    assert no_eta.extra_generation_params == {"Eta": 0.0}
    churned = run_result(unet, noise, texts, "Euler", 3, s_churn=1.0, noise_fn=seeded(1))
    assert churned.extra_generation_params == {"Sigma churn": 1.0}


# --- loop behaviour ---------------------------------------------------------------------------------------


def test_interrupt_stops_after_the_current_step(unet, texts, noise):
    seen: list[int] = []
    stopped = run_result(
        unet,
        noise,
        texts,
        "Euler",
        10,
        progress=lambda step, total, latents: seen.append(step),
        should_stop=lambda: len(seen) >= 3,
    )
    assert seen == [1, 2, 3] and bool(stopped.latents.isfinite().all()) and stopped.interrupted
    assert not run_result(unet, noise, texts, "Euler", 2).interrupted


def test_hook_points_run_in_order(unet, texts, noise):
    order: list[str] = []
    hooks = HookRegistry()
    for point in HookPoint:
        hooks.add(point, lambda context, point=point: order.append(point.value))
    hooks.add(HookPoint.BEFORE_STEP, lambda context: order.append("second before_step"), order=5)
    run(unet, noise, texts, "Euler", 1, hooks=hooks)
    assert order == [
        "setup",
        "before_loop",
        "before_step",
        "second before_step",
        "cfg_denoiser",
        "before_unet",
        "after_unet",
        "cfg_denoised",
        "after_cfg",
        "after_step",
        "after_loop",
    ]


def test_before_unet_residuals_reach_the_unet(unet, texts, noise):
    """What ControlNet does: add residuals to every UNet call; check them against a direct call."""
    generator = torch.Generator().manual_seed(9)
    calls: list[tuple[dict, torch.Tensor]] = []
    counted: list[int] = []
    handle = unet.register_forward_pre_hook(lambda module, args: counted.append(1))

    def add_residuals(context):
        rows, sample = context.kwargs["sample"].shape[0], context.kwargs["sample"]
        context.kwargs["mid_block_additional_residual"] = torch.randn(rows, 64, 4, 4, generator=generator)
        context.kwargs["down_block_additional_residuals"] = tuple(
            torch.randn(rows, channels, size, size, generator=generator) * 0.1
            for channels, size in ((32, 8), (32, 8), (32, 4), (64, 4), (64, 4))
        )
        assert sample.shape == (rows, 4, 8, 8) and context.timestep.shape == (rows,)

    hooks = HookRegistry()
    hooks.add(HookPoint.BEFORE_UNET, add_residuals, name="controlnet")
    hooks.add(HookPoint.AFTER_UNET, lambda context: calls.append((dict(context.kwargs), context.output)))
    try:
        out = run(unet, noise, texts, "Heun", 3, hooks=hooks)
    finally:
        handle.remove()
    assert len(calls) == len(counted) == 5 and bool(out.isfinite().all())
    kwargs, output = calls[-1]
    with torch.no_grad():
        close(unet(**kwargs, return_dict=False)[0], output)
        plain = {k: v for k, v in kwargs.items() if "residual" not in k}
        assert not torch.allclose(unet(**plain, return_dict=False)[0], output)


def test_on_cfg_denoiser_can_change_the_conditioning(unet, texts, noise):
    other = Conditioning(texts["other"][:1])
    hooks = HookRegistry()
    hooks.on_cfg_denoiser(lambda params: setattr(params, "text_cond", other))
    changed = run(unet, noise, texts, hooks=hooks)
    direct = run(unet, noise, texts, conds=StaticCondProvider(other, Conditioning(texts["uncond"][:1])))
    close(changed, direct)
    assert not torch.allclose(changed, run(unet, noise, texts))


def test_cfg_denoised_and_after_cfg_hooks_can_change_predictions(unet, texts, noise):
    hooks = HookRegistry()
    hooks.on_cfg_denoised(lambda params: setattr(params, "x", params.x * 0))
    assert run(unet, noise, texts, "Euler", 3, hooks=hooks).abs().max() < 1e-6
    hooks = HookRegistry()
    hooks.on_cfg_after_cfg(lambda params: setattr(params, "x", torch.ones_like(params.x)))
    assert torch.allclose(run(unet, noise, texts, "Euler", 3, hooks=hooks), torch.ones(1, 4, 8, 8))


def test_failing_hook_is_isolated_when_asked(unet, texts, noise):
    hooks = HookRegistry(isolate_errors=True)
    hooks.add(HookPoint.BEFORE_STEP, lambda context: 1 / 0, name="broken")
    close(run(unet, noise, texts, "Euler", 2, hooks=hooks), run(unet, noise, texts, "Euler", 2))
    assert hooks.names(HookPoint.BEFORE_STEP) == []
    strict = HookRegistry()
    strict.add(HookPoint.BEFORE_STEP, lambda context: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        run(unet, noise, texts, "Euler", 2, hooks=strict)


def test_and_composition_weights_are_linear(unet, texts, noise):
    """One image with the same sub-prompt twice at 0.5 + 0.5 equals that prompt once at weight 1."""
    cond = texts["cond"][:1]
    doubled = StaticCondProvider(
        Conditioning(torch.cat([cond, cond])), Conditioning(texts["uncond"][:1]), weights=[[(0, 0.5), (1, 0.5)]]
    )
    close(run(unet, noise, texts, conds=doubled), run(unet, noise, texts))
    mixed = StaticCondProvider(
        Conditioning(torch.cat([cond, texts["other"][:1]])),
        Conditioning(texts["uncond"][:1]),
        weights=[[(0, 1.0), (1, 0.7)]],
    )
    assert not torch.allclose(run(unet, noise, texts, conds=mixed), run(unet, noise, texts))


def test_prompt_editing_provider_gets_the_call_index(unet, texts, noise):
    class Editing:
        def __init__(self):
            self.seen: list[int] = []

        def cond(self, step):
            self.seen.append(step)
            return Conditioning(texts["cond" if step < 2 else "other"][:1]), [[(0, 1.0)]]

        def uncond(self, step):
            return Conditioning(texts["uncond"][:1])

    editing = Editing()
    edited = run(unet, noise, texts, "Euler", 4, conds=editing)
    assert editing.seen == [0, 1, 2, 3]
    assert not torch.allclose(edited, run(unet, noise, texts, "Euler", 4))


def test_batches_with_different_lengths_and_unbatched_calls(unet, texts):
    noise = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(6))
    rows: list[tuple[int, ...]] = []
    hooks = HookRegistry()
    hooks.add(HookPoint.BEFORE_UNET, lambda context: rows.append(tuple(context.row_is_uncond)))
    long_cond = StaticCondProvider(
        Conditioning(torch.cat([texts["cond"], texts["other"]], dim=1)), Conditioning(texts["uncond"])
    )
    assert bool(run(unet, noise, texts, "Euler", 1, conds=long_cond, hooks=hooks).isfinite().all())
    assert rows == [(False, False), (True, True)]
    batched = run(unet, noise, texts, "Euler", 3)
    close(run(unet, noise, texts, "Euler", 3, settings={"batch_cond_uncond": False}), batched)


def test_cfg_scale_one_skips_the_uncond_rows(unet, texts, noise):
    rows: list[int] = []
    hooks = HookRegistry()
    hooks.add(HookPoint.BEFORE_UNET, lambda context: rows.append(context.kwargs["sample"].shape[0]))
    out = run(unet, noise, texts, "Euler", 2, cfg_scale=1.0, hooks=hooks)
    assert rows == [1, 1]
    close(
        out,
        run(
            unet,
            noise,
            texts,
            "Euler",
            2,
            cfg_scale=1.0,
            conds=provider(texts, weights=[[(0, 1.0)]]),
            settings={"skip_early_cond": 0.0},
        ),
    )


def test_latent_mask_keeps_the_unmasked_region(unet, texts, noise):
    init = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(8))
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 4:] = 1.0
    out = run(unet, noise, texts, "DPM++ 2M", 6, init_latent=init, denoising_strength=0.8, latent_mask=mask)
    assert torch.equal(out[..., :4], init[..., :4])
    assert not torch.allclose(out[..., 4:], init[..., 4:])


def test_inpainting_model_gets_mask_and_masked_image_channels(texts, noise):
    torch.manual_seed(0)
    inpaint_unet = UNet2DConditionModel(in_channels=9, **SD_UNET).eval()
    conditioning = torch.cat([torch.ones(1, 1, 8, 8), torch.randn(1, 4, 8, 8)], dim=1)
    seen: list[torch.Tensor] = []
    hooks = HookRegistry()
    hooks.add(HookPoint.BEFORE_UNET, lambda context: seen.append(context.kwargs["sample"]))
    out = run(inpaint_unet, noise, texts, "Euler a", 3, image_conditioning=conditioning, hooks=hooks)
    assert bool(out.isfinite().all()) and all(sample.shape == (2, 9, 8, 8) for sample in seen)
    assert all(torch.equal(sample[:, 4:], conditioning.expand(2, -1, -1, -1)) for sample in seen)


def test_lcm_calls_the_unet_on_its_timestep_grid(unet, texts, noise):
    timesteps: list[float] = []
    hooks = HookRegistry()
    hooks.add(HookPoint.BEFORE_UNET, lambda context: timesteps.extend(context.timestep.tolist()))
    run(unet, noise, texts, "LCM", 4, cfg_scale=1.0, hooks=hooks)
    assert timesteps == [999.0, 679.0, 339.0, 19.0]


@pytest.mark.parametrize(
    ("steps", "strength", "fix", "expected"),
    [
        (20, 0.75, False, (20, 15)),
        (20, 1.0, False, (20, 19)),
        (20, 0.5, True, (40, 19)),
        (10, 0.0, False, (10, 0)),
    ],
)
def test_img2img_step_arithmetic_follows_a1111(steps, strength, fix, expected):
    assert denoise.img2img_steps(steps, strength, fix) == expected


# --- the loop's seams: one frozen input, hook points by name, the stepper's view of the denoiser -----------


def test_hook_point_names_convert_at_the_boundary_and_unknown_names_fail_clearly():
    hooks = HookRegistry()
    handle = hooks.add("before_unet", lambda context: None, name="by-name")  # extension code passes strings
    assert handle.point is HookPoint.BEFORE_UNET and hooks.names(HookPoint.BEFORE_UNET) == ["by-name"]
    with pytest.raises(ValueError, match=r"Unknown hook point 'before_unets'; valid points: setup, before_loop"):
        hooks.add("before_unets", lambda context: None)
    assert [point.value for point in HookPoint][:3] == ["setup", "before_loop", "before_step"]


def test_denoise_input_is_frozen_and_the_run_leaves_it_unchanged(unet, texts, noise):
    run_input = denoise_input(unet, noise, texts, "Euler a", 3, noise_fn=lambda shape: torch.zeros(shape))
    before = noise.clone()
    with pytest.raises(dataclasses.FrozenInstanceError):
        run_input.sampler = SamplerChoice("Euler")  # type: ignore[misc]
    first = denoise.sample(run_input)
    assert torch.equal(run_input.noise.latents, before)
    assert torch.equal(denoise.sample(run_input).latents, first.latents)


def test_result_reports_the_extras_the_settings_produce(unet, texts, noise):
    settings = {"s_min_uncond": 2.0, "always_discard_next_to_last_sigma": True, "rho": 5.0}
    result = run_result(unet, noise, texts, "DPM++ 2M", 3, schedule="Karras", settings=settings)
    assert result.extra_generation_params == {"Discard penultimate sigma": True, "Schedule rho": 5.0, "NGMS": 2.0}
    assert run_result(unet, noise, texts, "DPM++ 2M", 3, schedule="Karras").extra_generation_params == {}


def test_ddim_cfgpp_asks_the_denoiser_for_the_uncond_prediction(unet, texts, noise):
    """CFG++ re-noises along the uncond prediction, so even at CFG scale 1 the uncond rows are computed."""
    rows: list[int] = []
    hooks = HookRegistry()
    hooks.add(HookPoint.BEFORE_UNET, lambda context: rows.append(context.kwargs["sample"].shape[0]))
    out = run(unet, noise, texts, "DDIM CFG++", 3, cfg_scale=1.0, hooks=hooks)
    assert rows and all(count == 2 for count in rows) and bool(out.isfinite().all())
    assert not torch.allclose(out, run(unet, noise, texts, "DDIM", 3, cfg_scale=1.0))


def test_ddim_cfgpp_talks_to_the_denoiser_through_its_interface():
    class Guided:
        def __init__(self):
            self.guided_with: tuple[float, bool] | None = None

        def __call__(self, x, sigma):
            return x * 0.5

        def guide(self, scale_multiplier, always_uncond):
            self.guided_with = (scale_multiplier, always_uncond)

        def uncond_denoised(self):
            return torch.zeros(1, 4, 2, 2)

    sigmas = torch.tensor([2.0, 1.0, 0.0])
    model = Guided()
    stepper = k_solvers.DDIMCFGPP(model, sigmas, torch.randn_like, k_samplers.SamplerParams(eta=0.0))
    assert model.guided_with == (1 / 12.5, True)
    x = torch.ones(1, 4, 2, 2)
    x_next, denoised = stepper.step(0, x)
    # eta 0: x_next = denoised + sigma_next * (x - uncond) / sigma, with the uncond prediction 0
    assert torch.allclose(x_next, denoised + 1.0 * x / 2.0)
    with pytest.raises(TypeError, match="DDIM CFG\\+\\+ needs a CFG denoiser"):
        k_solvers.DDIMCFGPP(lambda x, sigma: x, sigmas, torch.randn_like, k_samplers.SamplerParams())
