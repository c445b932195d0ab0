"""One path from a checkpoint file to a ready ``SDModel``.

1. Open the file's index (names and shapes; no weights) and read a ``.yaml`` beside it if there is one.
2. Detect the architecture (``detection.detect``); refuse anything that is not a checkpoint, naming what it is.
3. Create the diffusers UNet/VAE and transformers text encoders on the ``meta`` device (no memory), compute
   the key plans from shapes, read exactly the needed tensors in their target dtype and device, and assign
   them into the modules (``load_state_dict(assign=True)``). Peak memory is one copy of the weights.
4. Settle eps/v for SD 2.x (``prediction``), choose the attention backend, build the text conditioner.

A checkpoint without VAE weights gets a VAE module still on ``meta``; the manager fills it from a VAE file.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modules.models import conversion
from modules.models.detection import Detection, detect
from modules.models.errors import ModelLoadError
from modules.models.prediction import COMFY_KEY, is_v_prediction
from modules.models.safe_text import plain_sentence, printable_name
from modules.models.sd_model import ModelArch, SDModel
from modules.models.statedict import StateDictFile, open_state_dict

log = logging.getLogger(__name__)

MAX_YAML_BYTES = 1024 * 1024  # an LDM config is a few KB

SCHEDULER_BASE = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "steps_offset": 1,
    "clip_sample": False,
    "set_alpha_to_one": False,
    "timestep_spacing": "leading",
}

_WRONG_FOLDER = {
    "vae": "it is a VAE; put it in models/VAE and choose it under Settings > VAE",
    "lora": "it is a LoRA; put it in models/Lora and use it with <lora:name:1> in the prompt",
    "controlnet": "it is a ControlNet model; put it in models/ControlNet",
    "embedding": "it is a textual-inversion embedding; put it in the embeddings folder",
}

ConditionerFactory = Callable[[ModelArch, list[tuple[dict, Any]], Any, Any], Any]


def read_yaml_config(checkpoint_path: Path) -> dict[str, Any]:
    """The LDM config ``<checkpoint>.yaml`` beside the checkpoint, {} when absent or unreadable."""
    path = checkpoint_path.with_suffix(".yaml")
    try:
        if not path.is_file():
            return {}
        if path.stat().st_size > MAX_YAML_BYTES:
            log.warning("Ignoring %s: larger than %d bytes, not an LDM config", printable_name(path), MAX_YAML_BYTES)
            return {}
    except OSError:
        return {}
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except Exception as error:  # untrusted text: YAML errors, bad UTF-8, absurd nesting (RecursionError)
        log.warning("Ignoring %s: %s", printable_name(path), plain_sentence(error))
        return {}
    if isinstance(data, dict):
        log.info("Using config %s", path)
        return data
    return {}


def inspect_checkpoint(path: Path, allow_unsafe_pickle: bool = False) -> tuple[StateDictFile, Detection]:
    """Open a checkpoint and detect it; ModelLoadError naming the file if it is not a usable checkpoint."""
    state_file = open_state_dict(path, allow_unsafe_pickle)
    try:
        detection = detect(state_file.shapes, read_yaml_config(path))
    except (ValueError, KeyError, IndexError) as error:
        state_file.close()
        raise ModelLoadError(
            path, f"looks like a Stable Diffusion checkpoint, but its layout is not supported: {error}"
        ) from error
    if detection.kind != "checkpoint":
        state_file.close()
        if detection.kind == "unknown":
            raise ModelLoadError(
                path, f"not a recognised Stable Diffusion checkpoint (SD 1.x, 2.x, XL): {detection.label}"
            )
        raise ModelLoadError(
            path, f"not a Stable Diffusion checkpoint: {_WRONG_FOLDER[detection.kind]} (recognised: {detection.label})"
        )
    return state_file, detection


def on_meta(factory: Callable[[], Any]) -> Any:
    """Build a module without allocating its weights."""
    import torch

    with torch.device("meta"):
        return factory()


def assign_weights(module: Any, state: dict[str, Any], path: Path, what: str) -> None:
    """Put ``state`` into a meta-initialised ``module`` without copying; every parameter must be covered."""
    import torch

    missing, unexpected = module.load_state_dict(state, strict=False, assign=True)
    if missing or unexpected:
        raise ModelLoadError(
            path,
            f"{what} weights do not fit the detected architecture "
            f"(missing {sorted(missing)[:4]}, unexpected {sorted(unexpected)[:4]})",
        )
    for name, buffer in list(module.named_buffers()):
        if buffer.is_meta:  # non-persistent buffers are not in state dicts (CLIP's position_ids)
            if not name.endswith("position_ids"):
                raise ModelLoadError(path, f"{what}: buffer {name} has no value")
            owner, _, leaf = name.rpartition(".")
            value = torch.arange(buffer.shape[-1], device=state_device(state)).expand(buffer.shape)
            module.get_submodule(owner).register_buffer(leaf, value.clone(), persistent=False)
    module.requires_grad_(False)
    module.eval()


def state_device(state: dict[str, Any]) -> Any:
    return next(iter(state.values())).device


def build_text_encoder(spec: dict[str, Any]) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(**spec["config"])
    config._attn_implementation = "sdpa"
    cls = CLIPTextModelWithProjection if spec.get("projection") else CLIPTextModel
    return on_meta(lambda: cls(config))


def has_text_model_level(module: Any) -> bool:
    return any(key.startswith("text_model.") for key in module.state_dict())


def load_sd_model(
    path: Path,
    checkpoint: Any,
    device_info: Any,
    conditioner_factory: ConditionerFactory,
    allow_unsafe_pickle: bool = False,
    progress: Callable[[float], None] | None = None,
    inspected: tuple[StateDictFile, Detection] | None = None,
) -> SDModel:
    """Load ``path`` into a new ``SDModel`` on ``device_info``'s device (or the CPU when offloading)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    state_file, detection = inspected or inspect_checkpoint(path, allow_unsafe_pickle)
    arch = detection.arch
    assert arch is not None
    try:
        unet = on_meta(lambda: UNet2DConditionModel(**arch.unet_config))
        vae = on_meta(lambda: AutoencoderKL(**arch.vae_config))
        encoders = [(spec, build_text_encoder(spec)) for spec in arch.text_config["encoders"]]
        unet_plan = conversion.unet_plan(state_file.shapes, arch.unet_config)
        vae_plan = conversion.vae_plan(state_file.shapes, arch.vae_config) if arch.text_config["has_vae"] else {}
        text_plans = [
            conversion.text_plan(state_file.shapes, spec, has_text_model_level(module)) for spec, module in encoders
        ]
        vae_keys = set(conversion.source_keys(vae_plan))

        def target_dtype(key: str) -> Any:
            return device_info.vae_dtype if key in vae_keys else device_info.dtype

        keys = conversion.source_keys(unet_plan, vae_plan, *text_plans)
        tensors = state_file.read(keys, target_dtype, device_info.load_device, progress)
        assign_weights(unet, conversion.materialize(unet_plan, tensors), path, "UNet")
        if vae_plan:
            assign_weights(vae, conversion.materialize(vae_plan, tensors), path, "VAE")
        for (spec, module), plan in zip(encoders, text_plans, strict=True):
            assign_weights(module, conversion.materialize(plan, tensors), path, f"text encoder {spec['name']}")
    except (RuntimeError, ValueError, KeyError, TypeError) as error:
        raise ModelLoadError(path, f"could not be loaded: {error}") from error
    finally:
        state_file.close()
    comfy_tensors = {k: tensors[k] for k in (COMFY_KEY,) if k in tensors}
    del tensors
    model = SDModel(
        arch=arch,
        checkpoint=checkpoint,
        unet=unet,
        vae=vae,
        conditioner=None,
        device=device_info.device,
        dtype=device_info.dtype,
        vae_dtype=device_info.vae_dtype,
        scheduler_config=dict(SCHEDULER_BASE, prediction_type=arch.prediction),
        text_encoders=[module for _, module in encoders],
        unet_ldm_names=conversion.ldm_module_names(unet_plan),
    )
    if device_info.attention == "xformers":
        try:
            unet.enable_xformers_memory_efficient_attention()
            if vae is not None:
                vae.enable_xformers_memory_efficient_attention()
        except (ImportError, ModuleNotFoundError, RuntimeError, ValueError) as error:
            log.warning("xformers could not be enabled (%s); using SDPA attention", error)
    if device_info.offload != "none":
        from modules.models.offload import attach_offload

        attach_offload(model, device_info.device, device_info.offload)
    if detection.needs_v_probe and is_v_prediction(
        unet, device_info.device, device_info.dtype, comfy_tensors, path.name
    ):
        arch = dataclasses.replace(arch, prediction="v_prediction")
        model.arch = arch
        model.scheduler_config["prediction_type"] = "v_prediction"
    model.conditioner = conditioner_factory(arch, encoders, device_info.device, device_info.dtype)
    return model


def checkpoint_vae_state(path: Path, vae: Any, vae_dtype: Any, allow_unsafe_pickle: bool = False) -> dict[str, Any]:
    """The VAE weights stored inside a checkpoint, converted for ``vae`` (to restore "None" after a swap)."""
    state_file = open_state_dict(path, allow_unsafe_pickle)
    try:
        plan = conversion.vae_plan(state_file.shapes, dict(vae.config))
        device = next(vae.parameters()).device
        tensors = state_file.read(conversion.source_keys(plan), lambda key: vae_dtype, device)
        return conversion.materialize(plan, tensors)
    finally:
        state_file.close()
