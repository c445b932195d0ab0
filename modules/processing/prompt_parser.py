"""A1111 prompt syntax as pure functions: attention weights, prompt editing, AND, extra networks.

Everything here turns prompt text into plain Python data (no torch, no model), so the text encoder and the
denoise loop can rely on one tested reading of the syntax that A1111 1.10 users type:

- ``(x)`` / ``[x]`` / ``(x:1.3)`` attention weights and ``BREAK``          -> :func:`parse_prompt_attention`
- ``[from:to:when]``, ``[to:when]``, ``[from::when]``, ``[a|b]``            -> :func:`get_prompt_schedules`
- ``a AND b :1.2`` (composable diffusion)                                   -> :func:`split_and`
- ``<lora:name:0.8>``, ``<hypernet:name:1>``                                -> :func:`extract_extra_networks`

None of these functions raises on malformed input: what cannot be read as syntax is kept as literal text.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)

BREAK_WEIGHT = -1.0
MAX_SCHEDULE_NESTING = 48  # deeper bracket nesting is parsed as plain text (the Earley parser would take minutes)
ROUND_MULTIPLIER = 1.1
SQUARE_MULTIPLIER = 1 / 1.1

# ----------------------------------------------------------------------------------------------------------
# Attention weights

_ATTENTION_TOKEN = re.compile(
    r"""
      (?P<escaped>\\[()\[\]\\])         # \( \) \[ \] \\  -> the literal character
    | (?P<backslash>\\)                 # any other backslash is dropped, as A1111 does
    | (?P<open>[(\[])
    | :\s*(?P<weight>[+-]?[.\d]+)\s*\)  # ':1.3)' closes a round bracket with an explicit weight
    | (?P<close>[)\]])
    | (?P<text>[^\\()\[\]:]+)
    | (?P<colon>:)
    """,
    re.VERBOSE,
)
_BREAK = re.compile(r"\s*\bBREAK\b\s*", re.S)


def parse_prompt_attention(text: str) -> list[tuple[str, float]]:
    """Split ``text`` into (fragment, weight) pairs following A1111's emphasis rules.

    ``(x)`` multiplies by 1.1, ``[x]`` divides by 1.1, ``(x:w)`` multiplies by ``w``; nested brackets
    multiply. A bracket left open applies to the end of the text, a stray closing bracket is literal text.
    ``BREAK`` becomes its own item ``("BREAK", -1.0)``. Runs with equal weights are merged.

    >>> parse_prompt_attention('normal text')
    [('normal text', 1.0)]
    >>> parse_prompt_attention('an (important) word')
    [('an ', 1.0), ('important', 1.1), (' word', 1.0)]
    >>> parse_prompt_attention('(unbalanced')
    [('unbalanced', 1.1)]
    >>> parse_prompt_attention(r'\\(literal\\]')
    [('(literal]', 1.0)]
    >>> parse_prompt_attention('a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).')[:3]
    [('a ', 1.0), ('house', 1.5730000000000004), (' ', 1.1)]
    >>> parse_prompt_attention('a BREAK b')
    [('a', 1.0), ('BREAK', -1.0), ('b', 1.0)]
    """
    # each fragment is [text, weight, is_break]; brackets multiply every fragment added since they opened
    fragments: list[list[Any]] = []
    open_round: list[int] = []
    open_square: list[int] = []

    def multiply_since(start: int, multiplier: float) -> None:
        for fragment in fragments[start:]:
            if not fragment[2]:
                fragment[1] *= multiplier

    def add_text(chunk: str) -> None:
        for index, part in enumerate(_BREAK.split(chunk)):
            if index:
                fragments.append(["BREAK", BREAK_WEIGHT, True])
            fragments.append([part, 1.0, False])

    for match in _ATTENTION_TOKEN.finditer(text):
        kind = match.lastgroup
        token = match.group(0)
        if kind == "escaped":
            fragments.append([token[1], 1.0, False])
        elif kind == "backslash":
            continue
        elif kind == "open":
            (open_round if token == "(" else open_square).append(len(fragments))
        elif kind == "weight" and open_round:
            try:
                explicit = float(match.group("weight"))
            except ValueError:  # ':.)' or ':1.2.3)': not a number, keep it as text
                add_text(token)
            else:
                multiply_since(open_round.pop(), explicit)
        elif token == ")" and open_round:
            multiply_since(open_round.pop(), ROUND_MULTIPLIER)
        elif token == "]" and open_square:
            multiply_since(open_square.pop(), SQUARE_MULTIPLIER)
        else:
            add_text(token)

    for start in open_round:
        multiply_since(start, ROUND_MULTIPLIER)
    for start in open_square:
        multiply_since(start, SQUARE_MULTIPLIER)

    merged: list[list[Any]] = []
    for fragment in fragments:
        if merged and not fragment[2] and not merged[-1][2] and merged[-1][1] == fragment[1]:
            merged[-1][0] += fragment[0]
        else:
            merged.append(fragment)
    if not merged:
        return [("", 1.0)]
    return [(fragment[0], float(fragment[1])) for fragment in merged]


# ----------------------------------------------------------------------------------------------------------
# Prompt editing and alternation

_SCHEDULE_GRAMMAR = r"""
start: (body | STRAY+)*
body: (weighted | edit | cycle | plain | SPACE)*
!weighted: "(" body ")" | "(" body ":" body ")" | "[" body "]"
edit: "[" [body ":"] body ":" [SPACE] NUMBER [SPACE] "]"
cycle: "[" body ("|" [body])+ "]"
plain: /(?:[^\\\[\]():|]|\\.)+/
STRAY: /[\[\]():]/
SPACE: /\s+/
%import common.SIGNED_NUMBER -> NUMBER
"""


@functools.lru_cache(maxsize=1)
def _schedule_parser() -> Any:
    import lark

    return lark.Lark(_SCHEDULE_GRAMMAR, parser="earley", maybe_placeholders=True)


@dataclasses.dataclass(frozen=True)
class _StepScale:
    """How an edit's ``when`` number becomes a step number (A1111's base pass / hires pass rules)."""

    steps: int
    int_offset: int
    float_offset: float
    old_scheduling: bool

    def step_of(self, number: str) -> int:
        value = float(number)
        if self.old_scheduling:
            value = value * self.steps if value < 1 else value
        elif "." in number:
            value = (value - self.float_offset) * self.steps
        else:
            value = value - self.int_offset
        return int(max(-1.0, min(float(self.steps), value)))


def _change_steps(tree: Any, scale: _StepScale) -> list[int]:
    steps = {scale.steps}
    for node in tree.iter_subtrees():
        if node.data == "edit":
            when = scale.step_of(str(node.children[3]))
            if when >= 1:
                steps.add(when)
        elif node.data == "cycle":
            steps.update(range(1, scale.steps + 1))
    return sorted(steps)


def _render(node: Any, step: int, scale: _StepScale) -> str:
    if node is None:
        return ""
    if not hasattr(node, "data"):  # a lark Token is a str
        return str(node)
    if node.data == "edit":
        before, after, _, number, _ = node.children
        return _render(before if step <= scale.step_of(str(number)) else after, step, scale)
    if node.data == "cycle":
        options = node.children
        return _render(options[(step - 1) % len(options)], step, scale)
    return "".join(_render(child, step, scale) for child in node.children)


def _nesting_depth(prompt: str) -> int:
    depth = deepest = 0
    for char in prompt:
        if char in "([":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]":
            depth = max(0, depth - 1)
    return deepest


def _schedule_one(prompt: str, scale: _StepScale) -> list[tuple[int, str]]:
    import lark

    if "[" not in prompt:  # no edit or alternation is possible: the text is used as it is for every step
        return [(scale.steps, prompt)]
    if _nesting_depth(prompt) > MAX_SCHEDULE_NESTING:
        log.warning("Prompt brackets nest deeper than %d levels; prompt editing is ignored", MAX_SCHEDULE_NESTING)
        return [(scale.steps, prompt)]
    try:
        tree = _schedule_parser().parse(prompt)
        return [(step, _render(tree, step, scale)) for step in _change_steps(tree, scale)]
    except (lark.exceptions.LarkError, RecursionError):
        return [(scale.steps, prompt)]


def get_prompt_schedules(
    prompts: Sequence[str], steps: int, hires_steps: int | None = None, use_old_scheduling: bool = False
) -> list[list[tuple[int, str]]]:
    """For each prompt, the texts to use and the last step each is used for: ``[(end_at_step, text), ...]``.

    ``when`` in ``[a:b:when]`` is a fraction of the steps when written with a dot, else a step number. For
    the hires pass (``hires_steps`` given) the numbers continue past the base pass: ``1.5`` is half of the
    hires steps and ``25`` is step 5 of hires after 20 base steps. ``use_old_scheduling`` is A1111's
    pre-1.6 rule (any value below 1 is a fraction, same numbers for both passes).

    >>> get_prompt_schedules(["a [b:3]"], 10)
    [[(3, 'a '), (10, 'a b')]]
    >>> get_prompt_schedules(["a[b:[c:d:2]:1]e"], 10)
    [[(1, 'abe'), (2, 'ace'), (10, 'ade')]]
    >>> get_prompt_schedules(["[cat|dog]"], 3)
    [[(1, 'cat'), (2, 'dog'), (3, 'cat')]]
    >>> get_prompt_schedules(["a [b:1.5] c"], 20, hires_steps=10)
    [[(5, 'a  c'), (10, 'a b c')]]
    >>> get_prompt_schedules(["a [unbalanced"], 10)
    [[(10, 'a [unbalanced')]]
    """
    if hires_steps is None or use_old_scheduling:
        scale = _StepScale(steps, 0, 0.0, use_old_scheduling)
    else:
        scale = _StepScale(hires_steps, steps, 1.0, use_old_scheduling)
    cache: dict[str, list[tuple[int, str]]] = {}
    for prompt in prompts:
        if prompt not in cache:
            cache[prompt] = _schedule_one(prompt, scale)
    return [list(cache[prompt]) for prompt in prompts]


# ----------------------------------------------------------------------------------------------------------
# Composable diffusion (AND)

_AND = re.compile(r"\bAND\b")
_TRAILING_WEIGHT = re.compile(r"^(?P<text>[\s\S]*?)(?:\s*:\s*(?P<weight>[-+]?(?:\d+\.?|\d*\.\d+)))?\s*$")


def split_and(prompt: str) -> list[tuple[str, float]]:
    """Split a prompt on ``AND`` into sub-prompts, each with its optional trailing ``:weight`` (default 1).

    >>> split_and("a cat AND a dog :1.2")
    [('a cat', 1.0), (' a dog', 1.2)]
    >>> split_and("plain")
    [('plain', 1.0)]
    """
    parts: list[tuple[str, float]] = []
    for piece in _AND.split(prompt):
        match = _TRAILING_WEIGHT.match(piece)
        if match is None:  # cannot happen with this pattern, kept for safety
            parts.append((piece, 1.0))
            continue
        weight = match.group("weight")
        parts.append((match.group("text"), float(weight) if weight is not None else 1.0))
    return parts


# ----------------------------------------------------------------------------------------------------------
# Extra networks

_EXTRA_NETWORK = re.compile(r"<(\w+):([^>]+)>")


@dataclasses.dataclass(frozen=True)
class ExtraNetworkCall:
    """One ``<kind:name:arg:key=value>`` tag: ``positional`` holds the unnamed arguments after the name."""

    kind: str
    name: str
    positional: tuple[str, ...] = ()
    named: dict[str, str] = dataclasses.field(default_factory=dict)
    items: tuple[str, ...] = ()  # the raw ':'-separated arguments, as A1111's ExtraNetworkParams.items

    def multiplier(self, default: float = 1.0) -> float:
        """The first positional argument as a number (``<hypernet:name:0.5>``), else ``default``."""
        return _as_float(self, self.positional[0]) if self.positional else default


def extract_extra_networks(prompt: str) -> tuple[str, list[ExtraNetworkCall]]:
    """Remove ``<kind:args>`` tags from ``prompt``; return the remaining text and the tags in order.

    >>> text, calls = extract_extra_networks("a cat <lora:detail:0.5:unet=1>")
    >>> text, calls[0].kind, calls[0].name, calls[0].positional, calls[0].named
    ('a cat ', 'lora', 'detail', ('0.5',), {'unet': '1'})
    """
    calls: list[ExtraNetworkCall] = []

    def take(match: re.Match[str]) -> str:
        items = tuple(match.group(2).split(":"))
        positional = [item for item in items if "=" not in item]
        named = dict(item.split("=", 1) for item in items if "=" in item)
        name = positional[0] if positional else ""
        calls.append(ExtraNetworkCall(match.group(1), name, tuple(positional[1:]), named, items))
        return ""

    return _EXTRA_NETWORK.sub(take, prompt), calls


def lora_weights(call: ExtraNetworkCall) -> tuple[float, float, int | None]:
    """(text-encoder multiplier, UNet multiplier, dyn dim) of a ``<lora:...>`` tag, A1111's defaults.

    >>> lora_weights(extract_extra_networks("<lora:x:0.7>")[1][0])
    (0.7, 0.7, None)
    >>> lora_weights(extract_extra_networks("<lora:x:te=0.5:unet=1:dyn=8>")[1][0])
    (0.5, 1.0, 8)
    """
    te = _as_float(call, call.positional[0]) if len(call.positional) > 0 else 1.0
    te = _as_float(call, call.named["te"]) if "te" in call.named else te
    unet = _as_float(call, call.positional[1]) if len(call.positional) > 1 else te
    unet = _as_float(call, call.named["unet"]) if "unet" in call.named else unet
    dyn_text = call.named.get("dyn", call.positional[2] if len(call.positional) > 2 else None)
    dyn = int(_as_float(call, dyn_text)) if dyn_text is not None else None
    return te, unet, dyn


def _as_float(call: ExtraNetworkCall, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"<{call.kind}:{call.name}>: {value!r} is not a number") from None
