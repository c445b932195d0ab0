"""A1111's file-name patterns: ``[seed]-[prompt_spaces]``, ``[datetime<%Y%m%d>]``, ``[prompt_hash<6>]`` ...

A pattern is text with ``[tag]`` and ``[tag<arg><arg>]`` fields. Each tag's value comes from a plain mapping
(``FilenameValues`` lists the keys) so the job that saves the image decides what goes in, and nothing here
reaches for global state. Unknown tags stay in the name as written, and some tags (``[seed_last]`` on a
single image, ``[denoising]`` in txt2img) vanish together with the text just before them, as in A1111.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
import re
import string
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from PIL import Image

log = logging.getLogger(__name__)

INVALID_CHARS = '#<>:"/\\|?*\n\r\t'
MAX_PART_LENGTH = 128
_CONTROL_CHARS = "".join(chr(code) for code in range(32)) + "\x7f"
_INVALID_TABLE = {ord(char): "_" for char in INVALID_CHARS + _CONTROL_CHARS}
_SEPARATOR_TABLE = {ord(char): "_" for char in "/\\" + _CONTROL_CHARS}
DEFAULT_TIME_FORMAT = "%Y%m%d%H%M%S"
_NON_LETTERS = re.compile(r"[\s" + re.escape(string.punctuation) + r"]+")
_FIELD = re.compile(r"(.*?)(?:\[([^\[\]]+)\]|$)", re.S)
_FIELD_ARGUMENT = re.compile(r"(.*)<([^>]*)>$")


class _Skip:
    """Marker: drop this tag and the literal text right before it."""


SKIP = _Skip()

# Keys a caller may put in the values mapping (all optional). Raw job values; the tags are computed from them
# as A1111 does (1-based [batch_number], omitted for a single image ...). "cfg", "denoising", "seed_first",
# "seed_last", "prompt_no_styles", "batch_number" and "generation_number" may instead be given ready-made.
FilenameValues = (
    "seed", "seeds", "subseed", "prompt", "negative_prompt", "styles", "style_prompts", "steps", "cfg_scale",
    "sampler", "scheduler", "model_hash", "model_name", "vae_filename", "job_timestamp", "batch_size",
    "n_iter", "batch_index", "iteration", "denoising_strength", "clip_skip", "user", "basename", "width",
    "height", "zip",
)  # fmt: skip


def sanitize_filename_part(text: Any, replace_spaces: bool = True) -> str | None:
    """Make text safe for one path component, as A1111 does (spaces to _, bad characters to _, 128 max).

    >>> sanitize_filename_part('a cat: "best"/ok? ')
    'a_cat___best__ok__'
    >>> sanitize_filename_part(' keep spaces. ', replace_spaces=False)
    'keep spaces'
    """
    if text is None:
        return None
    text = str(text)
    if replace_spaces:
        text = text.replace(" ", "_")
    text = text.translate(_INVALID_TABLE)
    return text.lstrip(" ")[:MAX_PART_LENGTH].rstrip(" .")


def safe_path_component(text: str) -> str:
    """``text`` as one file or folder name: separators, NUL and control characters become ``_``, and the
    names ``.`` and ``..`` (which would climb out of the output folder) become ``_``.

    >>> safe_path_component("../../../123-a cat")
    '.._.._.._123-a cat'
    >>> safe_path_component("..")
    '_'
    """
    text = str(text).translate(_SEPARATOR_TABLE)
    return "_" if text.strip(" ") in ("", ".", "..") else text


class FilenameGenerator:
    """Expands ``[tags]`` from ``values`` (see ``FilenameValues``), ``image`` and the time ``now``."""

    def __init__(
        self,
        values: Mapping[str, Any] | None = None,
        image: Image.Image | None = None,
        now: datetime.datetime | None = None,
        max_prompt_words: int = 8,
    ) -> None:
        self.values = dict(values or {})
        self.image = image
        self.now = now or datetime.datetime.now()
        self.max_prompt_words = max_prompt_words
        self.tags: dict[str, Callable[..., Any]] = {
            "seed": lambda: self._get("seed", ""),
            "seed_first": lambda: self._get("seed") if self._batch_size() == 1 else self._seeds()[0],
            "seed_last": lambda: SKIP if self._batch_size() == 1 else self._seeds()[-1],
            "steps": lambda: self._get("steps"),
            "cfg": lambda: self._get("cfg_scale", self._get("cfg")),
            "width": lambda: image.width if image is not None else self._get("width"),
            "height": lambda: image.height if image is not None else self._get("height"),
            "styles": self._styles,
            "sampler": lambda: sanitize_filename_part(self._get("sampler"), replace_spaces=False),
            "scheduler": lambda: self._sampler_scheduler(with_sampler=False),
            "sampler_scheduler": lambda: self._sampler_scheduler(with_sampler=True),
            "model_hash": lambda: self._get("model_hash"),
            "model_name": lambda: sanitize_filename_part(self._get("model_name"), replace_spaces=False),
            "date": lambda: self.now.strftime("%Y-%m-%d"),
            "datetime": self._datetime,
            "job_timestamp": lambda: self._get("job_timestamp") or self.now.strftime(DEFAULT_TIME_FORMAT),
            "prompt_hash": lambda *args: _text_hash(self._prompt(), *args),
            "negative_prompt_hash": lambda *args: _text_hash(self._get("negative_prompt", ""), *args),
            "full_prompt_hash": lambda *args: _text_hash(f"{self._prompt()} {self._get('negative_prompt', '')}",
                                                         *args),
            "prompt": lambda: sanitize_filename_part(self._prompt()),
            "prompt_no_styles": self._prompt_no_styles,
            "prompt_spaces": lambda: sanitize_filename_part(self._prompt(), replace_spaces=False),
            "prompt_words": self._prompt_words,
            "batch_number": self._batch_number,
            "batch_size": self._batch_size,
            "generation_number": self._generation_number,
            "hasprompt": self._hasprompt,
            "clip_skip": lambda: self._get("clip_skip"),
            "denoising": lambda: self._get("denoising_strength", self._get("denoising")) or SKIP,
            "user": lambda: self._get("user"),
            "vae_filename": self._vae_filename,
            "image_hash": self._image_hash,
            "basename": lambda: self._get("basename"),
            "none": lambda: "",
        }  # fmt: skip

    def _get(self, key: str, default: Any = None) -> Any:
        value = self.values.get(key)
        return default if value is None else value

    def _prompt(self) -> str:
        return str(self._get("prompt", ""))

    def _batch_size(self) -> int:
        return int(self._get("batch_size", 1))

    def _seeds(self) -> list[Any]:
        if self._get("seeds"):
            return list(self._get("seeds"))
        return [self._get("seed_first", self._get("seed", "")), self._get("seed_last", self._get("seed", ""))]

    def _styles(self) -> str | None:
        names = [name for name in self._get("styles", []) if name != "None"]
        return sanitize_filename_part(", ".join(names) or "None", replace_spaces=False)

    def _sampler_scheduler(self, with_sampler: bool) -> str:
        sampler, scheduler = self._get("sampler", ""), self._get("scheduler", "Automatic")
        if scheduler and scheduler != "Automatic":
            if not with_sampler:
                return scheduler
            return sanitize_filename_part(f"{sampler} {scheduler}", replace_spaces=False) or ""
        return sampler if with_sampler else ""

    def _datetime(self, *args: str) -> str | None:
        time_format = args[0] if args and args[0] else DEFAULT_TIME_FORMAT
        moment = self.now
        if len(args) > 1 and args[1]:
            try:
                from zoneinfo import ZoneInfo

                moment = moment.astimezone(ZoneInfo(args[1]))
            except (KeyError, ValueError) as error:  # ZoneInfoNotFoundError is a KeyError
                log.warning("Unknown time zone %r in filename pattern: %s", args[1], error)
        try:
            formatted = moment.strftime(time_format)
        except (ValueError, TypeError):
            formatted = moment.strftime(DEFAULT_TIME_FORMAT)
        return sanitize_filename_part(formatted, replace_spaces=False)

    def _prompt_no_styles(self) -> str | None:
        if self._get("prompt_no_styles") is not None:  # the caller knows the prompt before styles were applied
            return sanitize_filename_part(self._get("prompt_no_styles"), replace_spaces=False)
        prompt = self._prompt()
        for style in self._get("style_prompts", []):
            if not style:
                continue
            for part in style.split("{prompt}"):
                prompt = prompt.replace(part, "").replace(", ,", ",").strip().strip(",")
            prompt = prompt.replace(style, "").strip().strip(",").strip()
        return sanitize_filename_part(prompt, replace_spaces=False)

    def _prompt_words(self) -> str | None:
        words = [word for word in _NON_LETTERS.split(self._prompt()) if word] or ["empty"]
        return sanitize_filename_part(" ".join(words[: self.max_prompt_words]), replace_spaces=False)

    def _batch_number(self) -> Any:
        if self._get("batch_index") is None and self._get("batch_number") is not None:
            return self._get("batch_number")  # given ready-made by the caller
        if self._batch_size() == 1 or self._get("zip"):
            return SKIP
        return int(self._get("batch_index", 0)) + 1

    def _generation_number(self) -> Any:
        if self._get("batch_index") is None and self._get("generation_number") is not None:
            return self._get("generation_number")
        if (int(self._get("n_iter", 1)) == 1 and self._batch_size() == 1) or self._get("zip"):
            return SKIP
        return int(self._get("iteration", 0)) * self._batch_size() + int(self._get("batch_index", 0)) + 1

    def _hasprompt(self, *args: str) -> str | None:
        lower = self._prompt().lower()
        result = ""
        for arg in args:
            if not arg:
                continue
            expected, _, default = arg.partition("|")
            result += expected.lower() if expected.lower() in lower else default
        return sanitize_filename_part(result)

    def _vae_filename(self) -> str:
        name = self._get("vae_filename")
        if not name:
            return "NoneType"
        parts = os.path.basename(str(name)).split(".")
        return parts[1] if len(parts) > 1 and parts[0] == "" else parts[0]

    def _image_hash(self, *args: str) -> str | None:
        if self.image is None:
            return None
        length = int(args[0]) if args and args[0] else None
        return hashlib.sha256(self.image.tobytes()).hexdigest()[:length]

    def apply(self, pattern: str) -> str:
        """Expand every ``[tag]`` in ``pattern``.

        >>> FilenameGenerator({"seed": 7, "prompt": "a red, fox"}).apply("[seed]-[prompt_words]-[unknown]")
        '7-a red fox-[unknown]'
        >>> FilenameGenerator({"seed": 7, "batch_size": 1}).apply("[seed]-[seed_last]")
        '7'
        """
        result = ""
        for match in _FIELD.finditer(pattern):
            text, field = match.groups()
            if field is None:
                result += text
                continue
            tag, args = field, []
            while (argument := _FIELD_ARGUMENT.match(tag)) is not None:
                tag, value = argument.groups()
                args.insert(0, value)
            function = self.tags.get(tag.lower())
            if function is not None:
                try:
                    replacement = function(*args)
                except (TypeError, ValueError, IndexError, KeyError) as error:
                    log.warning("Could not fill [%s] in the file name: %s", field, error)
                    replacement = None
                if replacement is SKIP:
                    continue
                if replacement is not None:
                    result += text + str(replacement)
                    continue
            result += f"{text}[{field}]"
        return result


def _text_hash(text: str, *args: str) -> str:
    length = int(args[0]) if args and args[0] else 8
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def next_sequence_number(directory: str | Path, basename: str = "") -> int:
    """The next free running number in ``directory``: 1 + the largest leading number of a matching file.

    Files are matched as ``NNNNN-...`` (or ``<basename>-NNNN-...`` when a basename such as "grid" is given).
    """
    prefix = f"{basename}-" if basename else ""
    largest = -1
    try:
        names: Iterable[str] = os.listdir(directory)
    except FileNotFoundError:
        return 0
    for name in names:
        if not name.startswith(prefix):
            continue
        first = os.path.splitext(name[len(prefix) :])[0].split("-")[0]
        if first.isascii() and first.isdigit():
            largest = max(largest, int(first))
    return largest + 1
