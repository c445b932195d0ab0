"""Prompt syntax: attention weights, prompt editing, AND, extra networks (A1111 1.10 behaviour)."""

import doctest

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modules.processing import prompt_parser
from modules.processing.prompt_parser import (
    extract_extra_networks,
    get_prompt_schedules,
    lora_weights,
    parse_prompt_attention,
    split_and,
)

PROMPT_PIECES = list("ab ()[]:|\\,.05<>=é\n") + [" BREAK ", " AND ", "0.5", "lora:"]
PROMPT_CHARS = st.lists(st.sampled_from(PROMPT_PIECES), max_size=30).map("".join)


def test_docstring_examples():
    failures, _ = doctest.testmod(prompt_parser)
    assert failures == 0


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", [("", 1.0)]),
        ("normal text", [("normal text", 1.0)]),
        ("((x))", [("x", 1.1 * 1.1)]),
        ("[x]", [("x", 1 / 1.1)]),
        ("[[x]]", [("x", (1 / 1.1) * (1 / 1.1))]),
        ("(x:1.3)", [("x", 1.3)]),
        ("(x: 0.5 )", [("x", 0.5)]),
        ("(x:-1)", [("x", -1.0)]),
        ("((a:2) b)", [("a", 2 * 1.1), (" b", 1.1)]),
        ("(unnecessary)(parens)", [("unnecessaryparens", 1.1)]),
        ("[unclosed", [("unclosed", 1 / 1.1)]),
        ("a) b]", [("a) b]", 1.0)]),
        ("a:b", [("a:b", 1.0)]),
        (r"\(x\) \[y\] \\", [("(x) [y] \\", 1.0)]),
        (r"a\b", [("ab", 1.0)]),  # a lone backslash is dropped, as in A1111
        ("(a:.)", [("a:.)", 1.1)]),  # not a number: literal text, the bracket stays open
    ],
)
def test_attention(text, expected):
    result = parse_prompt_attention(text)
    assert [t for t, _ in result] == [t for t, _ in expected]
    assert [w for _, w in result] == pytest.approx([w for _, w in expected])


def test_attention_exact_floats_match_a1111():
    # A1111 multiplies at each closing bracket; the exact float values are part of the reproducibility contract
    assert parse_prompt_attention("((((sky))))") == [("sky", 1.4641000000000006)]
    assert parse_prompt_attention("(((house:1.3)))") == [("house", 1.5730000000000004)]


def test_break_is_its_own_item_and_never_weighted():
    assert parse_prompt_attention("a BREAK b") == [("a", 1.0), ("BREAK", -1.0), ("b", 1.0)]
    assert parse_prompt_attention("(a BREAK b)") == [("a", 1.1), ("BREAK", -1.0), ("b", 1.1)]
    assert parse_prompt_attention("aBREAKb") == [("aBREAKb", 1.0)]
    assert parse_prompt_attention("BREAK") == [("", 1.0), ("BREAK", -1.0), ("", 1.0)]


@settings(max_examples=300, deadline=None)
@given(PROMPT_CHARS)
def test_attention_never_raises_and_keeps_text(text):
    result = parse_prompt_attention(text)
    assert result
    for fragment, weight in result:
        assert isinstance(fragment, str) and isinstance(weight, float)
    joined = "".join(fragment for fragment, w in result if not (fragment == "BREAK" and w == -1.0))
    assert set(joined) <= set(text)


def sched(prompt, steps=10, **kwargs):
    return [list(item) for item in get_prompt_schedules([prompt], steps, **kwargs)[0]]


@pytest.mark.parametrize(
    "prompt, expected",
    [
        ("test", [[10, "test"]]),
        ("a [b:3]", [[3, "a "], [10, "a b"]]),
        ("a [b: 3]", [[3, "a "], [10, "a b"]]),
        ("a [[[b]]:2]", [[2, "a "], [10, "a [[b]]"]]),
        ("[(a:2):3]", [[3, ""], [10, "(a:2)"]]),
        ("a [b : c : 1] d", [[1, "a b  d"], [10, "a  c  d"]]),
        ("a[b:[c:d:2]:1]e", [[1, "abe"], [2, "ace"], [10, "ade"]]),
        ("a [unbalanced", [[10, "a [unbalanced"]]),
        ("a [b:.5] c", [[5, "a  c"], [10, "a b c"]]),
        ("a [b::0.3] c", [[3, "a b c"], [10, "a  c"]]),
        ("((a][:b:c [d:3]", [[3, "((a][:b:c "], [10, "((a][:b:c d"]]),
        ("a [b:99]", [[10, "a "]]),  # beyond the last step: clamped, never switches
        ("a [b:0]", [[10, "a b"]]),  # at/below zero: the 'to' text from the first step
        ("a|b", [[10, "a|b"]]),  # bare '|' is not syntax: literal fallback
        ("a [b:1e999]", [[10, "a "]]),  # huge numbers do not overflow
    ],
)
def test_schedules(prompt, expected):
    assert sched(prompt) == expected


def test_alternation_changes_every_step():
    assert sched("[a|(b:1.1)]", 4) == [[1, "a"], [2, "(b:1.1)"], [3, "a"], [4, "(b:1.1)"]]
    assert sched("[fe|]male", 4) == [[1, "female"], [2, "male"], [3, "female"], [4, "male"]]
    assert sched("[fe|||]male", 5) == [[1, "female"], [2, "male"], [3, "male"], [4, "male"], [5, "female"]]


def test_nested_edit_inside_alternation():
    assert sched("[[x:y:2]|z]", 4) == [[1, "x"], [2, "z"], [3, "y"], [4, "z"]]


def test_hires_pass_numbers_continue_after_base_pass():
    assert sched("a [b:.5] c", 10, hires_steps=10) == [[10, "a b c"]]
    assert sched("a [b:1.5] c", 10, hires_steps=10) == [[5, "a  c"], [10, "a b c"]]
    assert sched("a [b:14] c", 10, hires_steps=10) == [[4, "a  c"], [10, "a b c"]]
    # the pre-1.6 rule uses the same numbers for both passes
    assert sched("a [b:.5] c", 10, hires_steps=10, use_old_scheduling=True) == [[5, "a  c"], [10, "a b c"]]


def test_schedules_keep_order_and_duplicates():
    result = get_prompt_schedules(["x [a:2]", "y", "x [a:2]"], 4)
    assert result[0] == result[2] == [(2, "x "), (4, "x a")]
    assert result[1] == [(4, "y")]


@settings(max_examples=150, deadline=None)
@given(PROMPT_CHARS, st.integers(1, 30), st.one_of(st.none(), st.integers(1, 30)))
def test_schedules_never_raise(prompt, steps, hires):
    result = get_prompt_schedules([prompt], steps, hires_steps=hires)[0]
    ends = [end for end, _ in result]
    assert ends == sorted(set(ends))
    assert ends[-1] == (hires if hires is not None else steps)


def test_split_and():
    assert split_and("a cat AND a dog :1.2") == [("a cat", 1.0), (" a dog", 1.2)]
    assert split_and("x:0.5 AND y") == [("x", 0.5), (" y", 1.0)]
    assert split_and("ANDROID") == [("ANDROID", 1.0)]
    assert split_and("multi\nline :2") == [("multi\nline", 2.0)]
    assert split_and("(a:1.2)") == [("(a:1.2)", 1.0)]


@settings(max_examples=200, deadline=None)
@given(PROMPT_CHARS)
def test_split_and_never_raises(prompt):
    parts = split_and(prompt)
    assert 1 <= len(parts) <= prompt.count("AND") + 1


def test_extra_networks():
    text, calls = extract_extra_networks("a <lora:add_detail:0.6> cat <hypernet:h1:0.5><lora:b:te=0.5:unet=1>")
    assert text == "a  cat "
    assert [(c.kind, c.name) for c in calls] == [("lora", "add_detail"), ("hypernet", "h1"), ("lora", "b")]
    assert lora_weights(calls[0]) == (0.6, 0.6, None)
    assert calls[1].multiplier() == 0.5
    assert lora_weights(calls[2]) == (0.5, 1.0, None)
    assert calls[2].named == {"te": "0.5", "unet": "1"}
    assert lora_weights(extract_extra_networks("<lora:x>")[1][0]) == (1.0, 1.0, None)
    assert lora_weights(extract_extra_networks("<lora:x:1:0.2:16>")[1][0]) == (1.0, 0.2, 16)


def test_extra_networks_malformed():
    assert extract_extra_networks("<lora:> <:x> <lora x> plain") == ("<lora:> <:x> <lora x> plain", [])
    _, calls = extract_extra_networks("<lora:x:abc>")
    with pytest.raises(ValueError, match="abc"):
        lora_weights(calls[0])


def test_pathological_nesting_is_literal_and_fast():
    for prompt in ["(" * 300 + "a" + ")" * 300, "[" * 300 + "a:1" + "]" * 300, "[a:" * 100 + "b" + ":1]" * 100]:
        assert get_prompt_schedules([prompt], 10) == [[(10, prompt)]]
    assert parse_prompt_attention("(" * 5000 + "a")[0][0] == "a"
