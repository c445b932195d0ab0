"""How a piece of interface text is looked up in a language's strings, exactly as the page does it.

``modules/ui/static/localization.js`` translates in the browser; this module repeats its rules in Python so
the coverage test and the translator's tool judge a language file the way the page will use it:

- the trimmed text is looked up as a key; an empty translation counts as missing (English is shown);
- otherwise a key with named placeholders (``"Loading {name}..."``) matches the whole text as a pattern (the
  key with the most text outside its placeholders first) and the translation gets the same pieces back, each
  translated when the language has it as a key (item by item in a comma-separated list); keys with fewer than
  three letters outside placeholders are not used as patterns, so ``"{x}"`` cannot swallow all;
- emoji are decoration: "Run preprocessor 💥" is looked up as "Run preprocessor" and keeps its emoji;
- text without any letter (numbers, symbols) or a number with a short unit ("0.5s") is never translated.

>>> Translator({"Generate": "生成", "Loading {name}...": "正在加载 {name}..."}).translate("Loading a.ckpt...")
'正在加载 a.ckpt...'
>>> Translator({"Generate": ""}).translate("Generate") is None
True
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
MIN_PATTERN_LETTERS = 3


def _emoji_pattern() -> Any:
    """The page's emoji (pictographs, skin tones, hair components, variation selector, joiner); ``regex`` knows
    the Unicode property."""
    try:
        import regex  # a dependency of transformers

        return regex.compile(r"[\p{Extended_Pictographic}\U0001F3FB-\U0001F3FF\U0001F9B0-\U0001F9B3\uFE0F\u200D]")
    except ImportError:  # close enough: the blocks where pictographs live
        return re.compile(
            "[\u00a9\u00ae\u203c\u2049\u2122\u2139\u2194-\u2199\u21a9\u21aa\u231a-\u23ff"
            "\u24c2\u25aa-\u27bf\u2934\u2935\u2b05-\u2b55\u3030\u303d\u3297\u3299"
            "\U0001f000-\U0001faff\ufe0f\u200d]"
        )


EMOJI = _emoji_pattern()


def without_emoji(text: str) -> str:
    """The words of ``text``: emoji are decoration, "Run preprocessor 💥" is looked up as "Run preprocessor"."""
    return EMOJI.sub("", text).strip()


def is_translatable(text: str) -> bool:
    """Whether the page would try to translate ``text`` (without its emoji): it has a letter and is more than
    a number with a unit ("0.5s", "512x512")."""
    text = without_emoji(text)
    letters = sum(char.isalpha() for char in text)
    return bool(letters) and not (letters <= 2 and any(char.isdigit() for char in text))


@dataclasses.dataclass(frozen=True)
class _Pattern:
    regexp: re.Pattern[str]
    names: tuple[str, ...]
    template: str
    literal: int  # characters outside the placeholders


def compile_patterns(strings: Mapping[str, Any]) -> list[_Pattern]:
    patterns = []
    for key, value in strings.items():
        if not isinstance(value, str) or not value or "{" not in key:
            continue
        names = tuple(match.group(1) for match in PLACEHOLDER.finditer(key))
        literal = PLACEHOLDER.sub("", key)
        if not names or sum(char.isalpha() for char in literal) < MIN_PATTERN_LETTERS:
            continue
        source, last = "", 0
        for match in PLACEHOLDER.finditer(key):
            source += re.escape(key[last : match.start()]) + r"([\s\S]+?)"
            last = match.end()
        source += re.escape(key[last:])
        patterns.append(_Pattern(re.compile(f"^{source}$"), names, value, len(literal)))
    # the most specific pattern wins: "{n} changed: {keys}. Press Reload UI..." before "{n} changed: {keys}."
    return sorted(patterns, key=lambda pattern: -pattern.literal)


class Translator:
    """Translates interface text with one language's merged strings (the page's rules, see the module doc)."""

    def __init__(self, strings: Mapping[str, Any]) -> None:
        self.strings = dict(strings)
        self.patterns = compile_patterns(self.strings)

    def translate(self, text: str) -> str | None:
        """The translation of ``text``, or None when the language lacks it."""
        text = text.strip()
        words = without_emoji(text)
        if words != text:
            translated = self.translate(words) if words and words in text else None
            return text.replace(words, translated) if translated is not None else None
        if not text or not is_translatable(text):
            return None
        value = self._exact(text)
        if value is not None:
            return value
        for pattern in self.patterns:
            match = pattern.regexp.match(text)
            if match:
                values = {name: self._pieces(piece) for name, piece in zip(pattern.names, match.groups(), strict=True)}
                return PLACEHOLDER.sub(lambda m, found=values: found.get(m.group(1), m.group(0)), pattern.template)
        return None

    def _exact(self, text: str) -> str | None:
        value = self.strings.get(text.strip())
        return value if isinstance(value, str) and value else None

    def _pieces(self, piece: str) -> str:
        """A pattern's captured piece: translated when it is a key, item by item when it is a list of keys."""
        return ", ".join(self._exact(item) or item for item in piece.split(", "))

    def covers(self, text: str) -> bool:
        """Whether the page would show ``text`` translated: a key, a pattern, or text that is never translated."""
        return not is_translatable(text.strip()) or self.translate(text) is not None

    def missing(self, texts: list[str]) -> list[str]:
        """The texts of ``texts`` the language does not cover, in their order, without repeats."""
        return [text for text in dict.fromkeys(texts) if not self.covers(text)]
