"""Parity with plain diffusers on checkpoints loaded from disk: same weights, noise, scheduler → same latents.

The checkpoints are tiny random-weight files in the released key layout, loaded by our ModelManager; the
reference is diffusers' own pipeline given the very modules we loaded and the embeddings our conditioner
made. Our "Euler" + "Automatic" walks k-diffusion's schedule, which diffusers' EulerDiscreteScheduler
reproduces given the same sigmas with ``timestep_spacing="linspace"``.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from diffusers import (
    EulerDiscreteScheduler,
    StableDiffusionImg2ImgPipeline,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
)

from modules.processing.conditioning import PromptCondProvider
from modules.processing.denoise import sample
from modules.processing.denoise_input import (
    DenoiseInput,
    Img2ImgInput,
    LoopControl,
    ModelInput,
    NoiseInput,
    SamplerChoice,
)
from modules.processing.schedules import ModelSigmas
from tests.checkpoint_factory import write_checkpoint
from tests.helpers import make_backend

QUIET = LoopControl(console_progress=False)


def _backend(tmp_path_factory, layout):
    data = tmp_path_factory.mktemp(layout)
    write_checkpoint(layout, data / "models" / "Stable-diffusion" / f"{layout}.safetensors")
    return make_backend(data)


@pytest.fixture(scope="module")
def sd15(tmp_path_factory):
    return _backend(tmp_path_factory, "sd15_tiny").models.current


@pytest.fixture(scope="module")
def sdxl(tmp_path_factory):
    return _backend(tmp_path_factory, "sdxl_tiny").models.current


def _scheduler(model):
    return EulerDiscreteScheduler.from_config({**model.scheduler_config, "timestep_spacing": "linspace"})


def _quiet(factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = factory()
    pipe.set_progress_bar_config(disable=True)
    return pipe


def close(ours, reference):
    """Within 1e-4, measured against the latents' own scale: the random tiny SDXL produces latents of ~50,
    where float32 rounding alone reaches a few 1e-4 (our alphas are float64 as in A1111, diffusers' float32)."""
    scale = max(1.0, float(reference.abs().max()))
    assert float((ours - reference).abs().max()) <= 1e-4 * scale


def test_sd15_checkpoint_txt2img_matches_diffusers(sd15):
    conds = PromptCondProvider(sd15.conditioner, ["a photo of a cat"], ["blurry"], 8)
    noise = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    ours = sample(
        DenoiseInput(
            ModelInput(sd15.unet, conds, sd15.scheduler_config),
            SamplerChoice("Euler", "Automatic", 8, 7.0),
            NoiseInput(noise),
            control=QUIET,
        )
    ).latents
    pipe = _quiet(
        lambda: StableDiffusionPipeline(
            vae=sd15.vae,
            text_encoder=None,
            tokenizer=None,
            unet=sd15.unet,
            scheduler=_scheduler(sd15),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
    )
    reference = pipe(
        prompt_embeds=conds.cond(0)[0].crossattn,
        negative_prompt_embeds=conds.uncond(0).crossattn,
        latents=noise.clone(),
        guidance_scale=7.0,
        height=64,
        width=64,
        output_type="latent",
        sigmas=ModelSigmas.from_config(sd15.scheduler_config).uniform(8).tolist(),
    ).images
    close(ours, reference)


def test_sd15_checkpoint_img2img_matches_diffusers(sd15):
    """A1111 runs int(0.6 * 10) + 1 = 7 steps of a 10-step schedule, which is diffusers' strength 0.7."""
    conds = PromptCondProvider(sd15.conditioner, ["a cat"], [""], 10)
    init = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    noise = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    ours = sample(
        DenoiseInput(
            ModelInput(sd15.unet, conds, sd15.scheduler_config),
            SamplerChoice("Euler", "Automatic", 10, 7.0),
            NoiseInput(noise),
            img2img=Img2ImgInput(init, denoising_strength=0.6),
            control=QUIET,
        )
    ).latents
    pipe = _quiet(
        lambda: StableDiffusionImg2ImgPipeline(
            vae=sd15.vae,
            text_encoder=None,
            tokenizer=None,
            unet=sd15.unet,
            scheduler=_scheduler(sd15),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
    )
    reference = pipe(
        prompt_embeds=conds.cond(0)[0].crossattn,
        negative_prompt_embeds=conds.uncond(0).crossattn,
        image=init,
        strength=0.7,
        guidance_scale=7.0,
        output_type="latent",
        sigmas=ModelSigmas.from_config(sd15.scheduler_config).uniform(10).tolist(),
        generator=torch.Generator().manual_seed(2),
    ).images
    close(ours, reference)


def test_sdxl_checkpoint_txt2img_matches_diffusers(sdxl):
    conds = PromptCondProvider(sdxl.conditioner, ["a photo of a cat"], ["blurry"], 6)
    cond, uncond = conds.cond(0)[0], conds.uncond(0)
    noise = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    time_ids = torch.tensor([[64.0, 64.0, 0.0, 0.0, 64.0, 64.0]])
    ours = sample(
        DenoiseInput(
            ModelInput(sdxl.unet, conds, sdxl.scheduler_config, add_time_ids=time_ids),
            SamplerChoice("Euler", "Automatic", 6, 5.0),
            NoiseInput(noise),
            control=QUIET,
        )
    ).latents
    pipe = _quiet(
        lambda: StableDiffusionXLPipeline(
            vae=sdxl.vae,
            text_encoder=None,
            text_encoder_2=None,
            tokenizer=None,
            tokenizer_2=None,
            unet=sdxl.unet,
            scheduler=_scheduler(sdxl),
            add_watermarker=False,
        )
    )
    reference = pipe(
        prompt_embeds=cond.crossattn,
        negative_prompt_embeds=uncond.crossattn,
        pooled_prompt_embeds=cond.pooled,
        negative_pooled_prompt_embeds=uncond.pooled,
        latents=noise.clone(),
        guidance_scale=5.0,
        height=64,
        width=64,
        output_type="latent",
        sigmas=ModelSigmas.from_config(sdxl.scheduler_config).uniform(6).tolist(),
    ).images
    close(ours, reference)


def test_prompt_schedule_texts_are_encoded_together_and_sides_keep_their_lengths(sd15):
    """A1111 encodes all texts of one prompt's schedule in one batch ("Original" emphasis restores the mean
    over that batch), pads rows of one side by repeating their last vector, and leaves the prompt and
    negative prompt sides at their own lengths unless ``pad_cond_uncond`` is set."""
    prompt = "a [cat:dog:0.5], (red:1.3) hat"
    conds = PromptCondProvider(sd15.conditioner, [prompt, "a hat BREAK a cube"], ["blurry"], 8)
    together = sd15.conditioner.encode(["a cat, (red:1.3) hat", "a dog, (red:1.3) hat"])
    early, _ = conds.cond(0)
    late, _ = conds.cond(7)
    assert torch.equal(early.crossattn[0, :77], together.crossattn[0])
    assert torch.equal(late.crossattn[0, :77], together.crossattn[1])
    alone = sd15.conditioner.encode(["a cat, (red:1.3) hat"]).crossattn[0]
    assert not torch.allclose(alone, together.crossattn[0], atol=1e-6)  # the batch mean differs
    assert early.crossattn.shape[1] == 154  # BREAK: two chunks; the one-chunk row repeats its last vector
    assert torch.equal(early.crossattn[0, 77:], early.crossattn[0, 76:77].expand(77, -1))
    assert conds.uncond(0).crossattn.shape[1] == 77
    padded = PromptCondProvider(
        sd15.conditioner, ["a hat BREAK a cube"], ["blurry"], 8, settings={"pad_cond_uncond": True}
    )
    assert not padded.padded
    assert padded.uncond(0).crossattn.shape[1] == 154 and padded.padded


def test_interrupt_reaches_the_prompt_encoding(sd15):
    """Interrupt pressed while prompts are encoded stops before the next text is encoded (#18)."""
    asked = []

    def stop() -> bool:
        asked.append(True)
        return len(asked) > 1  # the first text is encoded, then the user presses Interrupt

    from modules.processing.conditioning import EncodingInterrupted

    with pytest.raises(EncodingInterrupted):
        PromptCondProvider(sd15.conditioner, ["a cat", "a dog", "a bird"], ["blurry"], 8, stop=stop)
    assert len(asked) == 2
    # without a stop request every distinct text is encoded
    conds = PromptCondProvider(sd15.conditioner, ["a cat", "a dog"], ["blurry"], 8, stop=lambda: False)
    assert conds.cond(0)[0] is not None
