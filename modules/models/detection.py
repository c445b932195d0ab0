"""What a weights file is, decided from its key names and tensor shapes only (never from its file name).

``detect(shapes)`` is a pure function from ``{key: shape}`` to a ``Detection``. The families are declared in
``RULES``, a table of required keys, required key prefixes and forbidden key prefixes; a family matches when
one of its rules does. ``tests/test_models_detection.py`` checks with every layout in
``tests/fixtures/checkpoint_layouts`` (tiny and full size) that exactly one family matches each file.

For checkpoints the sizes (channels, multipliers, depths, context and text widths) are then read from shapes
by ``modules.models.arch_config``, so a 4 MB test file and a 7 GB release take the same path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from modules.models.sd_model import ModelArch

Shapes = Mapping[str, tuple[int, ...]]

UNET = "model.diffusion_model."
UNET_IN = UNET + "input_blocks.0.0.weight"
LABEL_EMB = UNET + "label_emb."


@dataclasses.dataclass(frozen=True)
class FamilyRule:
    """One way a family shows in a state dict. All conditions must hold for the rule to match."""

    family: str
    kind: str  # checkpoint | vae | lora | controlnet | embedding
    label: str
    required: tuple[str, ...] = ()  # exact keys
    required_prefixes: tuple[str, ...] = ()  # each is the prefix of at least one key
    required_substrings: tuple[str, ...] = ()  # each occurs in at least one key
    forbidden_prefixes: tuple[str, ...] = ()  # no key starts with any of these

    def matches(self, shapes: Shapes) -> bool:
        if any(key not in shapes for key in self.required):
            return False
        keys = shapes.keys()
        for prefix in self.required_prefixes:
            if not any(key.startswith(prefix) for key in keys):
                return False
        for part in self.required_substrings:
            if not any(part in key for key in keys):
                return False
        return not any(key.startswith(self.forbidden_prefixes) for key in keys) if self.forbidden_prefixes else True


_NOT_SD1 = ("cond_stage_model.model.", "conditioner.", "control_model.", LABEL_EMB)
_NOT_SD2 = ("cond_stage_model.transformer.", "conditioner.", "control_model.", LABEL_EMB)
_NOT_XL = ("cond_stage_model.", "control_model.")
_NOT_VAE = (UNET, "first_stage_model.", "cond_stage_model.", "conditioner.", "control_model.")

RULES: tuple[FamilyRule, ...] = (
    FamilyRule(
        "sd1",
        "checkpoint",
        "SD 1.x",
        required=(UNET_IN,),
        required_prefixes=("cond_stage_model.transformer.",),
        forbidden_prefixes=_NOT_SD1,
    ),
    FamilyRule(
        "sd2",
        "checkpoint",
        "SD 2.x",
        required=(UNET_IN,),
        required_prefixes=("cond_stage_model.model.",),
        forbidden_prefixes=_NOT_SD2,
    ),
    FamilyRule(
        "sdxl",
        "checkpoint",
        "SDXL",
        required=(UNET_IN,),
        required_prefixes=(LABEL_EMB, "conditioner.embedders.0.transformer.", "conditioner.embedders.1.model."),
        forbidden_prefixes=_NOT_XL,
    ),
    FamilyRule(
        "sdxl_refiner",
        "checkpoint",
        "SDXL refiner",
        required=(UNET_IN,),
        required_prefixes=(LABEL_EMB, "conditioner.embedders.0.model."),
        forbidden_prefixes=_NOT_XL + ("conditioner.embedders.1.",),
    ),
    FamilyRule(
        "vae",
        "vae",
        "VAE",
        required=("encoder.conv_in.weight", "decoder.conv_out.weight"),
        required_prefixes=("encoder.down.",),
        forbidden_prefixes=_NOT_VAE,
    ),
    FamilyRule(
        "vae_diffusers",
        "vae",
        "VAE (diffusers format)",
        required=("encoder.conv_in.weight", "decoder.conv_out.weight"),
        required_prefixes=("encoder.down_blocks.",),
        forbidden_prefixes=_NOT_VAE,
    ),
    FamilyRule("controlnet", "controlnet", "ControlNet", required_prefixes=("control_model.input_hint_block.",)),
    FamilyRule(
        "controlnet",
        "controlnet",
        "ControlNet",
        required_prefixes=("input_hint_block.",),
        forbidden_prefixes=(UNET, "control_model."),
    ),
    FamilyRule(
        "controlnet",
        "controlnet",
        "ControlNet (diffusers format)",
        required_prefixes=("controlnet_cond_embedding.",),
        forbidden_prefixes=(UNET, "control_model."),
    ),
    FamilyRule("lora", "lora", "LoRA", required_prefixes=("lora_unet_",)),
    FamilyRule("lora", "lora", "LoRA", required_prefixes=("lora_te",), forbidden_prefixes=("lora_unet_",)),
    FamilyRule(
        "lora",
        "lora",
        "LoRA (diffusers/PEFT format)",
        required_prefixes=("unet.",),
        required_substrings=("lora",),
        forbidden_prefixes=("lora_unet_", "lora_te"),
    ),
    FamilyRule("embedding", "embedding", "textual-inversion embedding", required=("emb_params",)),
    FamilyRule("embedding", "embedding", "SDXL textual-inversion embedding", required=("clip_l", "clip_g")),
)


@dataclasses.dataclass(frozen=True)
class Detection:
    """The verdict on a state dict: what kind of file it is and, for checkpoints, its architecture."""

    kind: str  # checkpoint | vae | lora | controlnet | embedding | unknown
    family: str | None
    label: str
    arch: ModelArch | None = None
    needs_v_probe: bool = False  # SD 2.x eps/v cannot be told from keys: run the UNet once (see prediction.py)

    @property
    def description(self) -> str:
        return self.arch.label if self.arch is not None else self.label


def matching_families(shapes: Shapes) -> list[str]:
    """Names of every family with a matching rule (the uniqueness test wants exactly one)."""
    return sorted({rule.family for rule in RULES if rule.matches(shapes)})


def detect(shapes: Shapes, yaml_config: Mapping[str, Any] | None = None) -> Detection:
    """Classify a state dict by keys and shapes; for checkpoints infer the full architecture.

    ``yaml_config`` is the parsed LDM ``.yaml`` found beside a checkpoint (A1111 convention); its
    ``parameterization``, ``num_heads``/``num_head_channels`` and ``scale_factor`` override the defaults.
    Raises ValueError when a checkpoint family matched but its sizes are not something diffusers can build.
    """
    for rule in RULES:
        if rule.matches(shapes):
            if rule.kind != "checkpoint":
                return Detection(rule.kind, rule.family, rule.label)
            from modules.models.arch_config import infer_arch

            arch, needs_probe = infer_arch(rule.family, shapes, yaml_config or {})
            return Detection("checkpoint", rule.family, rule.label, arch, needs_probe)
    return Detection("unknown", None, describe_unknown(shapes))


def describe_unknown(shapes: Shapes) -> str:
    """A short account of what an unrecognised file holds, for the error message."""
    if not shapes:
        return "no tensors at all"
    prefixes: dict[str, int] = {}
    for key in shapes:
        head = key.split(".", 1)[0]
        prefixes[head] = prefixes.get(head, 0) + 1
    top = ", ".join(f"{name}.* ({count})" for name, count in sorted(prefixes.items(), key=lambda x: -x[1])[:5])
    return f"{len(shapes)} tensors, mostly {top}"
