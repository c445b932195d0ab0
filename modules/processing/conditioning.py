"""Text conditioning for one batch over the steps: prompt editing schedules and ``AND`` composition.

The prompt parser says which text applies at which step; the model's text conditioner encodes text. This
provider joins them for the denoise loop: each distinct text is encoded once per job, and at every step the
loop gets the rows of every sub-prompt of every image plus their ``AND`` weights (A1111's
``reconstruct_multicond_batch``) and the negative rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch

from modules.models.sd_model import Conditioning, TextConditioner
from modules.processing.hooks import CondWeights
from modules.processing.prompt_parser import get_prompt_schedules, split_and

Schedule = list[tuple[int, str]]  # (last step the text is used for, text)


@dataclasses.dataclass
class _Part:
    weight: float
    schedule: Schedule


def _text_at(schedule: Schedule, step: int) -> str:
    for end_at, text in schedule:
        if step <= end_at:
            return text
    return schedule[-1][1]


class PromptCondProvider:
    """``CondProvider`` for the denoise loop, built from the batch's prompts and negative prompts."""

    def __init__(
        self,
        conditioner: TextConditioner,
        prompts: Sequence[str],
        negative_prompts: Sequence[str],
        steps: int,
        clip_skip: int = 1,
        hires_steps: int | None = None,
        settings: Any = None,
    ) -> None:
        self._conditioner = conditioner
        self._clip_skip = clip_skip
        self._settings = settings
        self._cache: dict[tuple[str, bool], Conditioning] = {}
        self._parts: list[list[_Part]] = []
        for prompt in prompts:
            pieces = split_and(prompt)
            schedules = get_prompt_schedules([text for text, _ in pieces], steps, hires_steps)
            self._parts.append([_Part(weight, schedule) for (_, weight), schedule in zip(pieces, schedules)])
        self._negatives = get_prompt_schedules(list(negative_prompts), steps, hires_steps)
        keys = {(text, False) for parts in self._parts for part in parts for _, text in part.schedule}
        keys |= {(text, True) for schedule in self._negatives for _, text in schedule}
        self._encode_all(sorted(keys))

    def _encode(self, text: str, negative: bool) -> Conditioning:
        return self._conditioner.encode([text], self._clip_skip, is_negative_prompt=negative, settings=self._settings)

    def _encode_all(self, keys: list[tuple[str, bool]]) -> None:
        encoded = {key: self._encode(*key) for key in keys}
        longest = max(c.crossattn.shape[1] for c in encoded.values())
        if any(c.crossattn.shape[1] != longest for c in encoded.values()):
            empty = self._encode("", False).crossattn
            encoded = {key: _pad(c, longest, empty) for key, c in encoded.items()}
        self._cache = encoded

    @property
    def embeddings_used(self) -> list[str]:
        """Textual-inversion embeddings any of the texts used (for the "TI hashes" infotext)."""
        return sorted({name for cond in self._cache.values() for name in cond.embeddings_used})

    def cond(self, step: int) -> tuple[Conditioning, CondWeights]:
        rows: list[Conditioning] = []
        weights: CondWeights = []
        for parts in self._parts:
            image_weights = []
            for part in parts:
                image_weights.append((len(rows), part.weight))
                rows.append(self._cache[(_text_at(part.schedule, step), False)])
            weights.append(image_weights)
        return _stack(rows), weights

    def uncond(self, step: int) -> Conditioning:
        return _stack([self._cache[(_text_at(schedule, step), True)] for schedule in self._negatives])


def _pad(cond: Conditioning, length: int, empty: torch.Tensor) -> Conditioning:
    """Extend the token axis to ``length`` with copies of the empty prompt's chunk (A1111 pad_cond)."""
    missing = length - cond.crossattn.shape[1]
    if missing <= 0:
        return cond
    repeats = -(-missing // empty.shape[1])
    filler = empty.to(cond.crossattn).repeat(cond.crossattn.shape[0], repeats, 1)[:, :missing]
    return dataclasses.replace(cond, crossattn=torch.cat([cond.crossattn, filler], dim=1))


def _stack(rows: list[Conditioning]) -> Conditioning:
    crossattn = torch.cat([row.crossattn for row in rows], dim=0)
    pooled = None
    if rows and rows[0].pooled is not None:
        pooled = torch.cat([row.pooled for row in rows], dim=0)
    return Conditioning(crossattn, pooled)
