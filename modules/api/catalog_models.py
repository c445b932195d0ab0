"""Schemas of the listing routes (models, samplers, upscalers, styles...) and of options and flags.

Field names and shapes are A1111 1.10's. The options and flags models are built from our own declarations
(the settings registry and the argparse parser) so ``/docs`` lists every setting and flag with its label.
"""

from __future__ import annotations

import argparse
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from modules.settings.registry import OptionRegistry


class SamplerItem(BaseModel):
    name: str
    aliases: list[str]
    options: dict[str, str]


class SchedulerItem(BaseModel):
    name: str
    label: str
    aliases: list[str] | None = None
    default_rho: float | None = None
    need_inner_model: bool | None = None


class UpscalerItem(BaseModel):
    name: str
    model_name: str | None = None
    model_path: str | None = None
    model_url: str | None = None
    scale: float | None = None


class LatentUpscalerModeItem(BaseModel):
    name: str


class SDModelItem(BaseModel):
    title: str
    model_name: str
    hash: str | None = Field(None, description="Short sha256 (10 hex digits), when known")
    sha256: str | None = None
    filename: str
    config: str | None = None


class SDVaeItem(BaseModel):
    model_name: str
    filename: str


class HypernetworkItem(BaseModel):
    name: str
    path: str | None = None


class FaceRestorerItem(BaseModel):
    name: str
    cmd_dir: str | None = None


class RealesrganItem(BaseModel):
    name: str
    path: str | None = None
    scale: int | None = None


class PromptStyleItem(BaseModel):
    name: str
    prompt: str | None = None
    negative_prompt: str | None = None


class LoraItem(BaseModel):
    name: str
    alias: str
    path: str
    metadata: dict[str, Any] = Field(default_factory=dict)


class EmbeddingItem(BaseModel):
    step: int | None = None
    sd_checkpoint: str | None = None
    sd_checkpoint_name: str | None = None
    shape: int
    vectors: int


class EmbeddingsResponse(BaseModel):
    loaded: dict[str, EmbeddingItem] = Field(description="Embeddings usable with the current model")
    skipped: dict[str, EmbeddingItem] = Field(description="Embeddings for another architecture")


class MemoryResponse(BaseModel):
    ram: dict[str, Any] = Field(description="System memory: free, used, total (bytes)")
    cuda: dict[str, Any] = Field(description="CUDA memory statistics, or {'error': ...}")


class ScriptsList(BaseModel):
    txt2img: list[str] = Field(default_factory=list, description="Script names (lowercase titles)")
    img2img: list[str] = Field(default_factory=list)


class ScriptArg(BaseModel):
    label: str | None = None
    value: Any = None
    minimum: Any = None
    maximum: Any = None
    step: Any = None
    choices: list[str] | None = None


class ScriptInfo(BaseModel):
    name: str | None = None
    is_alwayson: bool | None = None
    is_img2img: bool | None = None
    args: list[ScriptArg] = Field(default_factory=list)


class ExtensionItem(BaseModel):
    name: str
    remote: str
    branch: str
    commit_hash: str
    version: str
    commit_date: str | int
    enabled: bool


def _json_type(value: Any) -> Any:
    if isinstance(value, bool):
        return bool
    if isinstance(value, int):
        return int | float
    if isinstance(value, float):
        return float
    if isinstance(value, str):
        return str
    if isinstance(value, (list, tuple)):
        return list[Any]
    if isinstance(value, dict):
        return dict[str, Any]
    return Any


def build_options_model(registry: OptionRegistry) -> type[BaseModel]:
    """``Options``: one optional field per declared setting, documented with its label (extra keys allowed)."""
    fields: dict[str, Any] = {}
    for option in registry:
        if not option.key.isidentifier() or option.key.startswith("_") or option.key == "model_config":
            continue
        fields[option.key] = (_json_type(option.default) | None, Field(option.default, description=option.label))
    return create_model("Options", __config__=ConfigDict(extra="allow"), **fields)


def build_flags_model(parser: argparse.ArgumentParser) -> type[BaseModel]:
    """``Flags``: one field per command-line flag, with its help text (extension flags included as extras)."""
    fields: dict[str, Any] = {}
    for action in parser._actions:  # argparse offers no public listing of its actions
        if not action.option_strings or action.dest == "help" or not action.dest.isidentifier():
            continue
        kind = _json_type(action.default) if action.default is not None else Any
        fields[action.dest] = (kind | None, Field(action.default, description=action.help))
    return create_model("Flags", __config__=ConfigDict(extra="allow"), **fields)
