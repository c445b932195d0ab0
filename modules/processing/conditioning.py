"""Text conditioning for one batch over the steps: prompt editing schedules and ``AND`` composition.

The prompt parser says which text applies at which step; the model's text conditioner encodes text. This
provider joins them for the denoise loop as A1111 does (``prompt_parser.get_learned_conditioning`` and
``reconstruct_*_batch``):

- every (sub-)prompt is encoded once per job, all the texts of its schedule in one batch, so "Original"
  emphasis restores the mean over that batch and shorter texts get empty chunks inside it;
- at every step the loop gets the rows of every sub-prompt of every image plus their ``AND`` weights, and the
  negative rows; rows of one side shorter than the longest are extended by repeating their last vector;
- the prompt and negative prompt sides may differ in length (the loop then calls the UNet for each side),
  unless the ``pad_cond_uncond`` setting pads the shorter side with empty-prompt chunks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
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
    rows: Conditioning  # one row per schedule entry, encoded together


def _row_at(part: _Part, step: int) -> Conditioning:
    for index, (end_at, _) in enumerate(part.schedule):
        if step <= end_at:
            return _take(part.rows, index)
    return _take(part.rows, len(part.schedule) - 1)


class EncodingInterrupted(Exception):
    """The job was interrupted while its prompts were being encoded (before any sampling step)."""


class PromptCondProvider:
    """``CondProvider`` for the denoise loop, built from the batch's prompts and negative prompts.

    ``stop`` is asked before each text is encoded, so Interrupt reaches the conditioning phase too.
    """

    def __init__(
        self,
        conditioner: TextConditioner,
        prompts: Sequence[str],
        negative_prompts: Sequence[str],
        steps: int,
        clip_skip: int = 1,
        hires_steps: int | None = None,
        settings: Any = None,
        stop: Callable[[], bool] | None = None,
    ) -> None:
        self._conditioner = conditioner
        self._stop = stop
        self._clip_skip = clip_skip
        self._settings = settings
        self._pad_sides = bool(settings.get("pad_cond_uncond")) if settings is not None else False
        cache: dict[tuple[str, bool], _Part] = {}
        self._parts: list[list[_Part]] = []
        for prompt in prompts:
            pieces = split_and(prompt)
            texts = [text for text, _ in pieces]
            parts = []
            for (text, weight), schedule in zip(pieces, get_prompt_schedules(texts, steps, hires_steps), strict=True):
                part = self._part(cache, text, schedule, negative=False)
                parts.append(dataclasses.replace(part, weight=weight))
            self._parts.append(parts)
        negatives = list(negative_prompts)
        schedules = get_prompt_schedules(negatives, steps, hires_steps)
        self._negatives = [
            self._part(cache, text, sch, negative=True) for text, sch in zip(negatives, schedules, strict=True)
        ]
        self._empty: torch.Tensor | None = None
        self.padded = False  # pad_cond_uncond extended a side (A1111's "Pad conds" infotext)

    def _part(self, cache: dict[tuple[str, bool], _Part], text: str, schedule: Schedule, negative: bool) -> _Part:
        """The encoded schedule of one (sub-)prompt; the same text in the batch is encoded once."""
        key = (text, negative)
        if key not in cache:
            if self._stop is not None and self._stop():
                raise EncodingInterrupted("Interrupted while encoding the prompts")
            rows = self._conditioner.encode(
                [entry for _, entry in schedule], self._clip_skip, is_negative_prompt=negative, settings=self._settings
            )
            cache[key] = _Part(1.0, schedule, rows)
        return cache[key]

    @property
    def embeddings_used(self) -> list[str]:
        """Textual-inversion embeddings any of the texts used (for the "TI hashes" infotext)."""
        parts = [part for parts in self._parts for part in parts] + self._negatives
        return sorted({name for part in parts for name in part.rows.embeddings_used})

    def cond(self, step: int) -> tuple[Conditioning, CondWeights]:
        rows: list[Conditioning] = []
        weights: CondWeights = []
        for parts in self._parts:
            image_weights = []
            for part in parts:
                image_weights.append((len(rows), part.weight))
                rows.append(_row_at(part, step))
            weights.append(image_weights)
        cond = _stack(rows)
        if self._pad_sides:
            cond = self._pad_to(cond, self._longest_side(step))
        return cond, weights

    def uncond(self, step: int) -> Conditioning:
        uncond = _stack([_row_at(part, step) for part in self._negatives])
        if self._pad_sides:
            uncond = self._pad_to(uncond, self._longest_side(step))
        return uncond

    def _longest_side(self, step: int) -> int:
        rows = [_row_at(part, step) for parts in self._parts for part in parts]
        rows += [_row_at(part, step) for part in self._negatives]
        return max(row.crossattn.shape[1] for row in rows)

    def _pad_to(self, cond: Conditioning, length: int) -> Conditioning:
        """A1111's ``pad_cond_uncond``: extend with copies of the empty prompt's encoding."""
        if cond.crossattn.shape[1] >= length:
            return cond
        if self._empty is None:
            self._empty = self._conditioner.encode([""], self._clip_skip, settings=self._settings).crossattn
        self.padded = True
        return _pad(cond, length, self._empty)


def _pad(cond: Conditioning, length: int, empty: torch.Tensor) -> Conditioning:
    """Extend the token axis to ``length`` with copies of the empty prompt's chunk (A1111 pad_cond)."""
    missing = length - cond.crossattn.shape[1]
    if missing <= 0:
        return cond
    repeats = -(-missing // empty.shape[1])
    filler = empty.to(cond.crossattn).repeat(cond.crossattn.shape[0], repeats, 1)[:, :missing]
    return dataclasses.replace(cond, crossattn=torch.cat([cond.crossattn, filler], dim=1))


def _take(cond: Conditioning, index: int) -> Conditioning:
    pooled = cond.pooled[index : index + 1] if cond.pooled is not None else None
    return Conditioning(cond.crossattn[index : index + 1], pooled, cond.embeddings_used)


def _stack(rows: list[Conditioning]) -> Conditioning:
    """Rows of one side as one batch; shorter rows repeat their last vector (A1111 ``reconstruct_*_batch``)."""
    longest = max(row.crossattn.shape[1] for row in rows)
    tensors = []
    for row in rows:
        missing = longest - row.crossattn.shape[1]
        tensor = row.crossattn
        if missing:
            tensor = torch.cat([tensor, tensor[:, -1:].expand(-1, missing, -1)], dim=1)
        tensors.append(tensor)
    pooled = None
    if rows and rows[0].pooled is not None:
        pooled = torch.cat([row.pooled for row in rows], dim=0)
    return Conditioning(torch.cat(tensors, dim=0), pooled)
