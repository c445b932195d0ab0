"""The CLIP BPE tokenizer, built offline from the merges file the ``open_clip_torch`` wheel ships.

Every SD text encoder (CLIP ViT-L, OpenCLIP ViT-H and ViT-bigG) uses OpenAI's 49408-token BPE vocabulary.
A1111 downloads it from the Hugging Face hub at first start, which fails offline. Here the vocabulary is
rebuilt from ``open_clip/bpe_simple_vocab_16e6.txt.gz`` exactly as OpenAI's ``simple_tokenizer`` builds it
(256 byte symbols, the same with ``</w>``, the merges, then the two special tokens), and handed to
transformers' ``CLIPTokenizer`` in memory. open_clip is never imported (that would pull torchvision): the file
is located through the package's import spec.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import CLIPTokenizer

BOS_TOKEN_ID = 49406
EOS_TOKEN_ID = 49407
MERGES_FILE = "bpe_simple_vocab_16e6.txt.gz"
_MERGE_COUNT = 49152 - 256 - 2


class TokenizerFilesMissing(RuntimeError):
    """The BPE merges file could not be found (open_clip_torch not installed)."""


def bpe_merges_path() -> Path:
    """Path of ``bpe_simple_vocab_16e6.txt.gz`` inside the installed open_clip package (not imported)."""
    spec = importlib.util.find_spec("open_clip")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / MERGES_FILE
        if candidate.is_file():
            return candidate
    raise TokenizerFilesMissing(
        f"{MERGES_FILE} not found: install it with `pip install --no-deps open_clip_torch==3.3.0` "
        "(the CLIP tokenizer vocabulary is read from that wheel; nothing is downloaded)"
    )


def bytes_to_unicode() -> dict[int, str]:
    """OpenAI CLIP's reversible byte -> printable character table used by byte-level BPE."""
    printable = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in chars), strict=True))


def build_vocab(merges_path: Path | None = None) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """(token -> id, merges) in OpenAI CLIP's order; 49408 tokens."""
    with gzip.open(merges_path or bpe_merges_path(), "rt", encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    merges = [tuple(line.split()) for line in lines[1 : _MERGE_COUNT + 1]]
    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [symbol + "</w>" for symbol in symbols]
    tokens += ["".join(merge) for merge in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {token: index for index, token in enumerate(tokens)}, merges  # type: ignore[return-value]


@functools.lru_cache(maxsize=1)
def clip_tokenizer() -> CLIPTokenizer:
    """The shared CLIP tokenizer (built once per process, ~0.5 s). Treat it as read-only."""
    from transformers import CLIPTokenizer

    vocab, merges = build_vocab()
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges)
    tokenizer.model_max_length = 10**9  # chunking into 77-token windows is done by the conditioner
    if tokenizer.bos_token_id != BOS_TOKEN_ID or tokenizer.eos_token_id != EOS_TOKEN_ID:
        raise RuntimeError("CLIP tokenizer special tokens are not where CLIP expects them")
    return tokenizer


def tokenize(texts: list[str]) -> list[list[int]]:
    """Token ids of each text, without BOS/EOS (A1111 adds those per 75-token chunk)."""
    if not texts:
        return []
    return clip_tokenizer()(texts, add_special_tokens=False, truncation=False)["input_ids"]
