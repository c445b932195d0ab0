"""Prompt text -> cross-attention conditioning with A1111's semantics (``modules/sd_hijack_clip.py``).

- The prompt is parsed for attention syntax (``(x)``, ``[x]``, ``(x:1.2)``, ``BREAK``) unless the
  ``emphasis`` setting is "None", tokenized without BOS/EOS and cut into chunks of 75 tokens; each chunk is
  encoded as 77 tokens (BOS + 75 + EOS, padded with EOS) and the chunks are concatenated. When a chunk fills up
  and the last comma is at most ``comma_padding_backtrack`` tokens back, the words after it move to the next
  chunk. ``BREAK`` pads the current chunk.
- Token weights multiply the encoder output; "Original" emphasis then rescales to the unweighted mean.
- SD 1.x reads ``hidden_states[-clip_skip]`` through the final layer norm; SD 2.x the penultimate layer through
  the final norm (A1111 ignores clip skip there); SDXL the penultimate layers of CLIP-L and bigG without the
  norm, concatenated, and the pooled bigG projection of the first chunk.
- OpenCLIP towers (SD 2.x, SDXL bigG) see padding token 0 after the first EOS, as they were trained.
- Textual-inversion embeddings replace the tokens of their name with their vectors.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from modules.models.sd_model import Conditioning
from modules.models.tokenizer import BOS_TOKEN_ID, EOS_TOKEN_ID, tokenize

CHUNK_LENGTH = 75
COMMA_TOKEN = 267  # ",</w>"
EMPHASIS_MODES = ("None", "Ignore", "Original", "No norm")


@dataclasses.dataclass
class PromptChunk:
    """77 token ids with their weights and the embeddings placed in them."""

    tokens: list[int] = dataclasses.field(default_factory=list)
    multipliers: list[float] = dataclasses.field(default_factory=list)
    fixes: list[tuple[int, Any]] = dataclasses.field(default_factory=list)  # (offset, Embedding)


def empty_chunk() -> PromptChunk:
    return PromptChunk([BOS_TOKEN_ID] + [EOS_TOKEN_ID] * (CHUNK_LENGTH + 1), [1.0] * (CHUNK_LENGTH + 2))


def _submodule(module: Any, *paths: str) -> Any:
    for path in paths:
        try:
            return module.get_submodule(path)
        except AttributeError:
            continue
    raise AttributeError(f"none of {paths} in {type(module).__name__}")


class ClipTextConditioner:
    """``TextConditioner`` over the transformers CLIP text encoders of one loaded checkpoint."""

    def __init__(
        self,
        family: str,
        encoders: Sequence[tuple[dict, Any]],
        settings: Any,
        device: Any,
        dtype: Any,
        embeddings: Any = None,
    ) -> None:
        self.family = family
        self.encoders = list(encoders)
        self.settings = settings
        self.device = device
        self.dtype = dtype
        self.embeddings = embeddings  # modules.models.embeddings.EmbeddingDatabase or None
        self._lock = threading.RLock()
        self._local = threading.local()
        self._lookup_version: object = None
        self._lookup: dict[int, list[tuple[list[int], Any]]] = {}

    # --- settings ----------------------------------------------------------------------------------------------

    def _setting(self, key: str, default: Any) -> Any:
        settings = getattr(self._local, "settings", None) or self.settings
        value = settings.get(key) if settings is not None else None
        return default if value is None else value

    @contextlib.contextmanager
    def _using(self, settings: Any) -> Iterator[None]:
        """Read settings from ``settings`` (a per-job overlay) for the duration of one call."""
        previous = getattr(self._local, "settings", None)
        self._local.settings = settings or previous
        try:
            yield
        finally:
            self._local.settings = previous

    def encoder_widths(self) -> dict[str, int]:
        return {spec["name"]: spec["config"]["hidden_size"] for spec, _ in self.encoders}

    # --- embeddings -----------------------------------------------------------------------------------------------

    def _embedding_lookup(self) -> dict[int, list[tuple[list[int], Any]]]:
        if self.embeddings is None:
            return {}
        self.embeddings.refresh()
        version = (self.embeddings.version, tuple(sorted(self.encoder_widths().items())))
        if version != self._lookup_version:
            lookup: dict[int, list[tuple[list[int], Any]]] = {}
            usable = self.embeddings.compatible(self.encoder_widths())
            names = list(usable)
            for name, ids in zip(names, tokenize(names), strict=True):
                if ids:
                    lookup.setdefault(ids[0], []).append((ids, usable[name]))
            for candidates in lookup.values():
                candidates.sort(key=lambda item: -len(item[0]))
            self._lookup, self._lookup_version = lookup, version
        return self._lookup

    @staticmethod
    def _embedding_at(lookup: dict, tokens: list[int], position: int) -> tuple[Any, int]:
        for ids, embedding in lookup.get(tokens[position], ()):
            if tokens[position : position + len(ids)] == ids:
                return embedding, len(ids)
        return None, 0

    # --- tokenization -------------------------------------------------------------------------------------------

    def tokenize_line(self, line: str) -> tuple[list[PromptChunk], int]:
        """A1111's ``tokenize_line``: the chunks of one prompt and its token count."""
        if self._setting("emphasis", "Original") != "None":
            from modules.processing.prompt_parser import parse_prompt_attention

            parsed = parse_prompt_attention(line)
        else:
            parsed = [(line, 1.0)]
        backtrack = int(self._setting("comma_padding_backtrack", 20))
        lookup = self._embedding_lookup()
        tokenized = tokenize([text for text, _ in parsed])
        chunks: list[PromptChunk] = []
        chunk = PromptChunk()
        token_count = 0
        last_comma = -1

        def next_chunk(is_last: bool = False) -> None:
            nonlocal chunk, token_count, last_comma
            token_count += len(chunk.tokens) if is_last else CHUNK_LENGTH
            to_add = CHUNK_LENGTH - len(chunk.tokens)
            if to_add > 0:
                chunk.tokens += [EOS_TOKEN_ID] * to_add
                chunk.multipliers += [1.0] * to_add
            chunk.tokens = [BOS_TOKEN_ID] + chunk.tokens + [EOS_TOKEN_ID]
            chunk.multipliers = [1.0] + chunk.multipliers + [1.0]
            last_comma = -1
            chunks.append(chunk)
            chunk = PromptChunk()

        for tokens, (text, weight) in zip(tokenized, parsed, strict=True):
            if text == "BREAK" and weight == -1:
                next_chunk()
                continue
            position = 0
            while position < len(tokens):
                token = tokens[position]
                if token == COMMA_TOKEN:
                    last_comma = len(chunk.tokens)
                elif (
                    backtrack
                    and len(chunk.tokens) == CHUNK_LENGTH
                    and last_comma != -1
                    and len(chunk.tokens) - last_comma <= backtrack
                ):
                    moved_tokens = chunk.tokens[last_comma + 1 :]
                    moved_weights = chunk.multipliers[last_comma + 1 :]
                    chunk.tokens = chunk.tokens[: last_comma + 1]
                    chunk.multipliers = chunk.multipliers[: last_comma + 1]
                    next_chunk()
                    chunk.tokens, chunk.multipliers = moved_tokens, moved_weights
                if len(chunk.tokens) == CHUNK_LENGTH:
                    next_chunk()
                embedding, length = self._embedding_at(lookup, tokens, position)
                if embedding is None:
                    chunk.tokens.append(token)
                    chunk.multipliers.append(weight)
                    position += 1
                    continue
                count = embedding.count
                if len(chunk.tokens) + count > CHUNK_LENGTH:
                    next_chunk()
                chunk.fixes.append((len(chunk.tokens), embedding))
                chunk.tokens += [0] * count
                chunk.multipliers += [weight] * count
                position += length
        if chunk.tokens or not chunks:
            next_chunk(is_last=True)
        return chunks, token_count

    def count_tokens(self, prompt: str, settings: Any = None) -> tuple[int, int]:
        """(tokens used, current limit): the UI's ``12/75`` counter; the limit grows by 75 per chunk."""
        with self._using(settings):
            _, count = self.tokenize_line(prompt)
        return count, math.ceil(max(count, 1) / CHUNK_LENGTH) * CHUNK_LENGTH

    # --- encoding -------------------------------------------------------------------------------------------------

    def encode(
        self, prompts: list[str], clip_skip: int = 1, is_negative_prompt: bool = False, settings: Any = None
    ) -> Conditioning:
        """Conditioning for a batch of prompts; shorter prompts are padded with empty-chunk encodings.

        ``is_negative_prompt``: SDXL encodes an all-empty negative prompt as zeros, as A1111 and SGM do.
        ``settings``: a per-job settings view (emphasis, comma_padding_backtrack...) instead of the shared one.
        """
        import torch

        with self._lock, self._using(settings), torch.no_grad():
            cache: dict[str, list[PromptChunk]] = {}
            batch_chunks = []
            for prompt in prompts:
                if prompt not in cache:
                    cache[prompt] = self.tokenize_line(prompt)[0]
                batch_chunks.append(cache[prompt])
            emphasis = self._setting("emphasis", "Original")
            chunk_count = max(len(chunks) for chunks in batch_chunks)
            parts, pooled = [], None
            used: dict[str, Any] = {}
            for index in range(chunk_count):
                batch = [chunks[index] if index < len(chunks) else empty_chunk() for chunks in batch_chunks]
                for chunk in batch:
                    used.update({embedding.name: embedding for _, embedding in chunk.fixes})
                features = []
                for spec, module in self.encoders:
                    hidden, chunk_pooled = self._encode_chunk(spec, module, batch, clip_skip)
                    features.append(self._emphasize(hidden, batch, emphasis))
                    if chunk_pooled is not None and index == 0:
                        pooled = chunk_pooled
                parts.append(torch.cat(features, dim=-1))
            crossattn = torch.cat(parts, dim=1).to(self.dtype)
            if is_negative_prompt and self.family in ("sdxl", "sdxl_refiner") and all(p == "" for p in prompts):
                crossattn = torch.zeros_like(crossattn)
                pooled = torch.zeros_like(pooled) if pooled is not None else None
            return Conditioning(
                crossattn=crossattn,
                pooled=pooled.to(self.dtype) if pooled is not None else None,
                embeddings_used=tuple(sorted(used)),
            )

    def _encode_chunk(self, spec: dict, module: Any, batch: list[PromptChunk], clip_skip: int) -> tuple[Any, Any]:
        import torch

        tokens = torch.tensor([chunk.tokens for chunk in batch], device=self.device)
        pad = spec["config"]["pad_token_id"]
        if pad != EOS_TOKEN_ID:
            for row, chunk in enumerate(batch):
                first_eos = chunk.tokens.index(EOS_TOKEN_ID)
                tokens[row, first_eos + 1 :] = pad
        token_embedding = _submodule(module, "text_model.embeddings.token_embedding", "embeddings.token_embedding")
        fixes = [chunk.fixes for chunk in batch]
        name = spec["name"]

        def place_embeddings(_module: Any, _inputs: Any, output: Any) -> Any:
            if not any(fixes):
                return output
            output = output.clone()
            for row, row_fixes in enumerate(fixes):
                for offset, embedding in row_fixes:
                    vectors = embedding.vectors_for(name).to(output.device, output.dtype)
                    count = min(output.shape[1] - offset - 1, vectors.shape[0])
                    output[row, offset + 1 : offset + 1 + count] = vectors[:count]
            return output

        handle = token_embedding.register_forward_hook(place_embeddings)
        try:
            output = module(input_ids=tokens, output_hidden_states=True)
        finally:
            handle.remove()
        layers = len(output.hidden_states) - 1
        final_norm = _submodule(module, "text_model.final_layer_norm", "final_layer_norm")
        policy = spec["clip_skip"]
        skip = max(1, min(int(clip_skip or 1), layers))
        if spec["layer"] == "last":
            hidden = final_norm(output.hidden_states[-skip]) if skip > 1 else output.last_hidden_state
        elif policy == "sdxl_clip_l_skip" and self._setting("sdxl_clip_l_skip", False):
            hidden = output.hidden_states[-skip]
        else:
            hidden = output.hidden_states[-2]
            if spec["final_norm"]:
                hidden = final_norm(hidden)
        return hidden, getattr(output, "text_embeds", None)

    @staticmethod
    def _emphasize(hidden: Any, batch: list[PromptChunk], mode: str) -> Any:
        import torch

        if mode not in ("Original", "No norm"):
            return hidden
        weights = torch.tensor([chunk.multipliers for chunk in batch], device=hidden.device, dtype=hidden.dtype)
        if mode == "No norm":
            return hidden * weights.unsqueeze(-1)
        original_mean = hidden.mean()
        hidden = hidden * weights.unsqueeze(-1)
        return hidden * (original_mean / hidden.mean())
