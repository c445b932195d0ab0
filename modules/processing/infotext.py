"""Infotext: the text A1111 stores in every image, written and read back exactly as A1111 1.10 does.

The format is a contract with the outside world (PNG Info tabs, civitai, other UIs, old images), so both
directions live here as pure functions::

    <prompt, possibly several lines>
    Negative prompt: <negative prompt>          (only when non-empty)
    Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, ...

A value is JSON-quoted only when it holds ``,``, ``:`` or a newline (also, unlike A1111, when it would not
survive the round trip otherwise: leading/trailing blanks or a leading quote).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from modules.processing.params import prompt_problem
from modules.processing.prompt_parser import parse_prompt_attention

log = logging.getLogger(__name__)

# The order create_infotext uses in A1111 1.10; a caller's extra keys go after these, then TRAILING_KEYS.
PARAMETER_ORDER: tuple[str, ...] = (
    "Steps", "Sampler", "Schedule type", "CFG scale", "Image CFG scale", "Seed", "Face restoration", "Size",
    "Model hash", "Model", "FP8 weight", "Cache FP16 weight for LoRA", "VAE hash", "VAE", "Variation seed",
    "Variation seed strength", "Seed resize from", "Denoising strength", "Conditional mask weight", "Clip skip",
    "ENSD", "Token merging ratio", "Token merging ratio hr", "Init image hash", "RNG", "NGMS", "Tiling",
)  # fmt: skip
TRAILING_KEYS: tuple[str, ...] = ("Version", "User")

# Schedule type labels (and names/aliases) that pre-1.9 sampler names carried as a suffix.
SCHEDULER_SUFFIXES: dict[str, str] = {
    "Automatic": "Automatic", "Uniform": "Uniform", "Karras": "Karras", "Exponential": "Exponential",
    "Polyexponential": "Polyexponential", "SGM Uniform": "SGM Uniform", "SGMUniform": "SGM Uniform",
    "KL Optimal": "KL Optimal", "Align Your Steps": "Align Your Steps", "Simple": "Simple", "Normal": "Normal",
    "DDIM": "DDIM", "Beta": "Beta", "automatic": "Automatic", "uniform": "Uniform", "karras": "Karras",
    "exponential": "Exponential", "polyexponential": "Polyexponential", "sgm_uniform": "SGM Uniform",
    "kl_optimal": "KL Optimal", "align_your_steps": "Align Your Steps", "simple": "Simple", "normal": "Normal",
    "ddim": "DDIM", "beta": "Beta",
}  # fmt: skip

# Filled in by parse_infotext when the text does not mention them (what the value was when it was left out).
PARSE_DEFAULTS: dict[str, Any] = {
    "Clip skip": "1", "Hires resize-1": 0, "Hires resize-2": 0, "Hires sampler": "Use same sampler",
    "Hires schedule type": "Use same scheduler", "Hires checkpoint": "Use same checkpoint", "Hires prompt": "",
    "Hires negative prompt": "", "Mask mode": "Inpaint masked", "Masked content": "original",
    "Inpaint area": "Whole picture", "Masked area padding": 32, "RNG": "GPU", "Schedule type": "Automatic",
    "Schedule max sigma": 0, "Schedule min sigma": 0, "Schedule rho": 0, "VAE Encoder": "Full",
    "VAE Decoder": "Full", "FP8 weight": "Disable",
}  # fmt: skip

# Values of these keys stay text even when they look like numbers (a hash can be all digits).
TEXT_KEYS = frozenset(
    {"Prompt", "Negative prompt", "Model", "VAE", "Version", "User", "Sampler", "Hires sampler", "Refiner",
     "Hires checkpoint", "Hires prompt", "Hires negative prompt", "Hires upscaler", "Face restoration",
     "Schedule type", "Hires schedule type"}
)  # fmt: skip

# A1111 reads the last line with r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)', which backtracks
# quadratically on long text without a colon ("a a a ..."); _scan_params finds the same matches in linear time.
_SPACES = re.compile(r"\s*")
_KEY_RUN = re.compile(r"[\w \-/]*")
_WORD_CHAR = re.compile(r"\w")
_QUOTED = re.compile(r'"(?:\\.|[^\\"])+"')
_UNQUOTED = re.compile(r"[^,]*")
MAX_INFOTEXT_CHARS = 262144  # room for four prompts at their cap (params.MAX_PROMPT_CHARS) and the values
_IMAGE_SIZE = re.compile(r"^(\d+)x(\d+)$")
_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?$")


def quote(value: Any) -> str:
    """Write ``value`` raw, or JSON-quoted when the raw text would break the ``k: v, k: v`` line."""
    text = str(value)
    if "," in text or "\n" in text or ":" in text or text != text.strip() or text.startswith('"'):
        return json.dumps(text, ensure_ascii=False)
    return text


def unquote(text: str) -> str:
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        return text
    try:
        loaded = json.loads(text)
    except ValueError:
        return text
    return loaded if isinstance(loaded, str) else text


def ordered_params(values: Mapping[str, Any]) -> dict[str, Any]:
    """Order a generation's values as A1111 does and apply its write rules.

    Known keys come in ``PARAMETER_ORDER``, then every other key in the caller's order (extensions' and
    hires/LoRA values), then ``Version`` and ``User``. ``Schedule type: Automatic``, ``Clip skip`` <= 1,
    ``RNG: GPU``, a false ``Tiling`` and None values are left out; a true ``Tiling`` is written "True".

    >>> list(ordered_params({"Lora hashes": "x: 1", "Version": "v1", "Seed": 3, "Steps": 20, "RNG": "GPU"}))
    ['Steps', 'Seed', 'Lora hashes', 'Version']
    """
    known = set(PARAMETER_ORDER) | set(TRAILING_KEYS)
    keys = [key for key in PARAMETER_ORDER if key in values]
    keys += [key for key in values if key not in known]
    keys += [key for key in TRAILING_KEYS if key in values]
    result: dict[str, Any] = {}
    for key in keys:
        value = values[key]
        if key == "Schedule type" and value == "Automatic":
            continue
        if key == "Clip skip" and value is not None and _as_int(value, 2) <= 1:
            continue
        if key == "RNG" and value == "GPU":
            continue
        if key == "Tiling":
            value = "True" if value and value != "False" else None
        if value is not None:
            result[key] = value
    return result


def create_infotext(prompt: str, negative_prompt: str, params: Mapping[str, Any]) -> str:
    """Build the infotext; ``params`` are written in their own order (see :func:`ordered_params`).

    >>> create_infotext("a cat", "", {"Steps": 20, "Sampler": "Euler a", "Lora hashes": "a: 1, b: 2"})
    'a cat\\nSteps: 20, Sampler: Euler a, Lora hashes: "a: 1, b: 2"'
    """
    items = ", ".join(
        key if key == value else f"{key}: {quote(value)}" for key, value in params.items() if value is not None
    )
    negative = f"\nNegative prompt: {negative_prompt}" if negative_prompt else ""
    return f"{prompt}{negative}\n{items}".strip()


def split_legacy_sampler_name(name: str) -> tuple[str, str | None]:
    """Split a pre-1.9 combined name into (sampler, schedule type label); (name, None) when there is no suffix.

    >>> split_legacy_sampler_name("DPM++ 2M Karras")
    ('DPM++ 2M', 'Karras')
    >>> split_legacy_sampler_name("DPM++ 2M SDE SGM Uniform")
    ('DPM++ 2M SDE', 'SGM Uniform')
    >>> split_legacy_sampler_name("Euler a")
    ('Euler a', None)
    """
    for suffix in sorted(SCHEDULER_SUFFIXES, key=len, reverse=True):
        if name.endswith(" " + suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix) - 1], SCHEDULER_SUFFIXES[suffix]
    return name, None


def _as_int(value: Any, default: int = 0) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):
        return default


def _convert(key: str, value: str) -> Any:
    if key in TEXT_KEYS or "hash" in key.lower():
        return value
    if _INT.match(value):
        return int(value)
    if _FLOAT.match(value):
        return float(value)
    return value


def _old_hires_first_pass(width: int, height: int) -> tuple[int, int]:
    scale = math.sqrt(512 * 512 / max(1, width * height))
    return math.ceil(scale * width / 64) * 64, math.ceil(scale * height / 64) * 64


def _restore_old_hires_fix(res: dict[str, Any], use_old_hires_size: bool) -> None:
    """Pre-1.0 infotexts gave 'First pass size'; turn it into Size + Hires resize as A1111 does."""
    hires_w, hires_h = _as_int(res.get("Hires resize-1")), _as_int(res.get("Hires resize-2"))
    if use_old_hires_size and hires_w and hires_h:
        res["Size-1"], res["Size-2"] = hires_w, hires_h
        return
    if res.get("First pass size-1") is None or res.get("First pass size-2") is None:
        return
    first_w, first_h = _as_int(res["First pass size-1"]), _as_int(res["First pass size-2"])
    width, height = _as_int(res.get("Size-1", 512), 512), _as_int(res.get("Size-2", 512), 512)
    if first_w == 0 or first_h == 0:
        first_w, first_h = _old_hires_first_pass(width, height)
    res["Size-1"], res["Size-2"] = first_w, first_h
    res["Hires resize-1"], res["Hires resize-2"] = width, height


def _parse_version(text: Any) -> Any:
    if not isinstance(text, str):
        return None
    from packaging import version

    match = re.match(r"([^-]+-[^-]+)-.*", text)
    try:
        return version.parse(match.group(1) if match else text)
    except version.InvalidVersion:
        return None


def _backcompat(res: dict[str, Any]) -> None:
    """Turn on the compatibility switches an image made by an older A1111 needs (infotext_versions)."""
    from packaging import version

    made_by = _parse_version(res.get("Version"))
    if made_by is None:
        return
    if made_by < version.parse("1.6.0") and "[" in res.get("Prompt", ""):
        res["Old prompt editing timelines"] = True
    if made_by < version.parse("1.6.0") and res.get("Sampler", "") in ("DDIM", "PLMS"):
        res["Pad conds v0"] = True
    if made_by < version.parse("v1.7.0-225"):
        res["Downcast alphas_cumprod"] = True
    if made_by < version.parse("1.8.0") and res.get("Refiner"):
        res["Refiner switch by sampling steps"] = True
    if made_by < version.parse("1.9.0") and res.get("Schedule type") == "Automatic":
        from modules.processing.samplers import PRE_1_9_UNIFORM

        if res.get("Sampler") in PRE_1_9_UNIFORM:  # before 1.9 "DPM++ SDE" meant the Uniform schedule
            res["Schedule type"] = "Uniform"


def scan_params(line: str) -> list[tuple[str, str]]:
    """The ``key: value`` pairs of an infotext's last line, as A1111's regex finds them, in linear time.

    A key is the longest run of word characters, spaces, ``-`` and ``/`` (starting with a word character,
    two or more long) right before a ``:``; when the run is not followed by ``:``, no match can start inside
    it, so the scan jumps past it. A value is a JSON-quoted string followed by ``,`` or the end, else
    everything up to the next ``,``. A quoted attempt that fails tells where later attempts inside it would
    fail too, so no character is scanned more than a few times.

    >>> scan_params('Steps: 20, Lora hashes: "a: 1, b: 2", Size: 512x512')
    [('Steps', '20'), ('Lora hashes', '"a: 1, b: 2"'), ('Size', '512x512')]
    """
    found: list[tuple[str, str]] = []
    length, pos, quoted_fails_before = len(line), 0, -1
    while pos < length:
        start = _SPACES.match(line, pos).end()
        if start >= length:
            break
        if not _WORD_CHAR.match(line, start):
            pos = start + 1
            continue
        run_end = _KEY_RUN.match(line, start).end()
        if run_end - start < 2 or run_end >= length or line[run_end] != ":":
            pos = max(run_end, pos + 1)
            continue
        value_start = _SPACES.match(line, run_end + 1).end()
        value_end = -1
        if value_start >= quoted_fails_before and line.startswith('"', value_start):
            quoted = _QUOTED.match(line, value_start)
            if quoted is not None and (quoted.end() == length or line[quoted.end()] == ","):
                value_end = quoted.end()
            elif quoted is not None:
                quoted_fails_before = quoted.end() - 1
            elif not line.startswith('""', value_start):  # no closing quote: none will be found later either
                quoted_fails_before = length
        if value_end < 0:
            value_end = _UNQUOTED.match(line, value_start).end()
        found.append((line[start:run_end], line[value_start:value_end]))
        pos = value_end + 1 if value_end < length else length
    return found


class InfotextTooLongError(ValueError):
    """An infotext longer than ``MAX_INFOTEXT_CHARS``: refused instead of parsed (a request-size guard)."""


def _uses_emphasis(prompt: str, negative_prompt: str) -> bool:
    """Whether either prompt weights any text; prompts a generation would refuse (too long, too many
    brackets: quadratic to parse) are not looked into."""
    if prompt_problem("prompt", prompt) or prompt_problem("negative_prompt", negative_prompt):
        return False
    weights = parse_prompt_attention(prompt) + parse_prompt_attention(negative_prompt)
    return any(weight != 1.0 and piece != "BREAK" for piece, weight in weights)


def parse_infotext(
    text: str,
    *,
    convert_numbers: bool = True,
    skip_fields: Iterable[str] = (),
    styles: Any = None,
    infotext_styles: str = "Apply if any",
    auto_backcompat: bool = True,
    use_old_hires_size: bool = False,
) -> dict[str, Any]:
    """Read an infotext into ``{"Prompt": ..., "Negative prompt": ..., "Steps": 20, "Size-1": 512, ...}``.

    With ``convert_numbers`` (default) unquoted numeric values become int/float, except hashes and names;
    ``convert_numbers=False`` gives A1111's all-text values (what ``/sdapi/v1/png-info`` returns).
    ``styles`` (an object with ``extract_styles_from_prompt``) removes known styles from the prompts and, per
    ``infotext_styles`` (Ignore / Apply / Discard / Apply if any), reports them as ``Styles array``.

    >>> info = parse_infotext("a cat\\nNegative prompt: ugly\\nSteps: 20, Sampler: DPM++ 2M Karras, Size: 512x768")
    >>> info["Prompt"], info["Negative prompt"], info["Steps"], info["Sampler"], info["Schedule type"]
    ('a cat', 'ugly', 20, 'DPM++ 2M', 'Karras')
    >>> info["Size-1"], info["Size-2"], info["Clip skip"]
    (512, 768, 1)
    """
    if len(text) > MAX_INFOTEXT_CHARS:
        raise InfotextTooLongError(f"Infotext is {len(text)} characters long; at most {MAX_INFOTEXT_CHARS} are read")
    res: dict[str, Any] = {}
    *lines, last_line = text.strip().split("\n")
    params = scan_params(last_line)
    if len(params) < 3:
        params = []
        lines.append(last_line)
        last_line = ""

    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    for line in lines:
        line = line.strip()
        if line.startswith("Negative prompt:"):
            negative_lines.append(line[len("Negative prompt:") :].strip())
        elif negative_lines:
            negative_lines.append(line)
        else:
            prompt_lines.append(line)
    prompt, negative_prompt = "\n".join(prompt_lines), "\n".join(negative_lines)

    for key, raw in params:
        quoted = len(raw) >= 2 and raw[0] == '"' and raw[-1] == '"'
        value = unquote(raw) if quoted else raw
        size = _IMAGE_SIZE.match(value)
        if size is not None:
            first, second = size.groups()
            res[f"{key}-1"] = int(first) if convert_numbers else first
            res[f"{key}-2"] = int(second) if convert_numbers else second
        else:
            res[key] = _convert(key, value) if convert_numbers and not quoted else value

    for key in ("Sampler", "Hires sampler"):
        if isinstance(res.get(key), str):
            sampler, schedule = split_legacy_sampler_name(res[key])
            if schedule is not None:
                res[key] = sampler
                res["Schedule type" if key == "Sampler" else "Hires schedule type"] = schedule

    if styles is not None and infotext_styles != "Ignore":
        found, prompt, negative_prompt = styles.extract_styles_from_prompt(prompt, negative_prompt)
        if infotext_styles == "Apply" or (infotext_styles == "Apply if any" and found):
            res["Styles array"] = found

    res["Prompt"] = prompt
    res["Negative prompt"] = negative_prompt
    hypernet = res.get("Hypernet")
    if hypernet is not None:
        res["Prompt"] += f"<hypernet:{hypernet}:{res.get('Hypernet strength', '1.0')}>"

    for key, default in PARSE_DEFAULTS.items():
        if key not in res:
            res[key] = int(default) if convert_numbers and key == "Clip skip" else default
    if "Cache FP16 weight for LoRA" not in res and res["FP8 weight"] != "Disable":
        res["Cache FP16 weight for LoRA"] = False
    _restore_old_hires_fix(res, use_old_hires_size)

    if "Emphasis" not in res and _uses_emphasis(prompt, negative_prompt):
        res["Emphasis"] = "Original"
    if "Refiner switch by sampling steps" not in res:
        res["Refiner switch by sampling steps"] = False
    if auto_backcompat:
        _backcompat(res)
    for key in skip_fields:
        res.pop(key, None)
    return res
