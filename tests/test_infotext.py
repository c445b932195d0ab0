"""Infotext writing and parsing, A1111 1.10 format."""

import doctest

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from modules.processing import infotext
from modules.processing.infotext import (
    create_infotext,
    ordered_params,
    parse_infotext,
    quote,
    split_legacy_sampler_name,
)

A1111_EXAMPLE = (
    "a cat\nNegative prompt: lowres\nSteps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, "
    "Seed: 1234, Size: 512x512, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.7, "
    'Hires upscale: 2, Hires upscaler: Latent, Lora hashes: "add_detail: 7c6bad76eb54", Version: v1.10.1'
)


def test_docstring_examples():
    assert doctest.testmod(infotext).failed == 0


def test_writes_a1111_example_exactly():
    values = {
        "Version": "v1.10.1",
        "Hires upscale": 2,
        "Hires upscaler": "Latent",
        "Lora hashes": "add_detail: 7c6bad76eb54",
        "Steps": 20,
        "Sampler": "DPM++ 2M",
        "Schedule type": "Karras",
        "CFG scale": 7,
        "Seed": 1234,
        "Size": "512x512",
        "Model hash": "6ce0161689",
        "Model": "v1-5-pruned-emaonly",
        "Denoising strength": 0.7,
        "Clip skip": 1,
        "RNG": "GPU",
        "Variation seed": None,
    }
    assert create_infotext("a cat", "lowres", ordered_params(values)) == A1111_EXAMPLE


def test_parses_a1111_example():
    info = parse_infotext(A1111_EXAMPLE)
    assert info["Prompt"] == "a cat"
    assert info["Negative prompt"] == "lowres"
    assert info["Steps"] == 20 and info["CFG scale"] == 7 and info["Seed"] == 1234
    assert info["Denoising strength"] == 0.7 and info["Hires upscale"] == 2
    assert info["Size-1"] == 512 and info["Size-2"] == 512 and "Size" not in info
    assert info["Model hash"] == "6ce0161689"
    assert info["Lora hashes"] == "add_detail: 7c6bad76eb54"
    assert info["Schedule type"] == "Karras"
    assert info["Version"] == "v1.10.1"


def test_parse_as_text_like_a1111_api():
    info = parse_infotext(A1111_EXAMPLE, convert_numbers=False)
    assert info["Steps"] == "20" and info["Size-1"] == "512" and info["Clip skip"] == "1"


def test_quoting_rule():
    assert quote("Latent") == "Latent"
    assert quote("a, b") == '"a, b"'
    assert quote("a: b") == '"a: b"'
    assert quote("line\nbreak") == '"line\\nbreak"'
    assert quote('say "hi"') == 'say "hi"'
    assert quote("日本") == "日本"
    assert quote("日本, 語") == '"日本, 語"'


def test_key_equal_to_value_and_none():
    assert create_infotext("p", "", {"Steps": 1, "Flag": "Flag", "Skip": None}) == "p\nSteps: 1, Flag"


def test_order_and_write_rules():
    values = {"Mask blur": 4, "Clip skip": 2, "Tiling": True, "Schedule type": "Automatic", "Steps": 5,
              "Denoising strength": 0.5, "User": "me", "Version": "v1", "RNG": "CPU", "ControlNet 0": "x"}  # fmt: skip
    assert list(ordered_params(values)) == [
        "Steps", "Denoising strength", "Clip skip", "RNG", "Tiling", "Mask blur", "ControlNet 0", "Version", "User"
    ]  # fmt: skip
    assert ordered_params(values)["Tiling"] == "True"
    assert "Tiling" not in ordered_params({"Tiling": False})


def test_multiline_prompts_and_missing_negative():
    text = create_infotext("line one\nline two", "neg one\nneg two", {"Steps": 2, "Seed": 3, "CFG scale": 4})
    info = parse_infotext(text)
    assert info["Prompt"] == "line one\nline two"
    assert info["Negative prompt"] == "neg one\nneg two"
    info = parse_infotext("just a prompt, with: colon")
    assert info["Prompt"] == "just a prompt, with: colon" and info["Negative prompt"] == ""


def test_last_line_needs_three_params():
    info = parse_infotext("a cat\nSteps: 20, Seed: 5")
    assert info["Prompt"] == "a cat\nSteps: 20, Seed: 5"
    assert "Steps" not in info


def test_defaults_filled():
    info = parse_infotext("x\nSteps: 1, Seed: 2, CFG scale: 3")
    assert info["Clip skip"] == 1
    assert info["Hires resize-1"] == 0 and info["Hires resize-2"] == 0
    assert info["Hires sampler"] == "Use same sampler"
    assert info["Hires schedule type"] == "Use same scheduler"
    assert info["Hires checkpoint"] == "Use same checkpoint"
    assert info["Hires prompt"] == ""
    assert info["Mask mode"] == "Inpaint masked"
    assert info["Masked content"] == "original"
    assert info["Inpaint area"] == "Whole picture"
    assert info["Masked area padding"] == 32
    assert info["RNG"] == "GPU"
    assert info["Schedule type"] == "Automatic"
    assert "Emphasis" not in info
    assert parse_infotext("(x)\nSteps: 1, Seed: 2, CFG scale: 3")["Emphasis"] == "Original"


def test_legacy_sampler_names():
    assert split_legacy_sampler_name("DPM++ 2M Karras") == ("DPM++ 2M", "Karras")
    assert split_legacy_sampler_name("DPM++ 2M SDE Exponential") == ("DPM++ 2M SDE", "Exponential")
    assert split_legacy_sampler_name("LMS Karras") == ("LMS", "Karras")
    assert split_legacy_sampler_name("DPM2 a Karras") == ("DPM2 a", "Karras")
    assert split_legacy_sampler_name("Euler SGMUniform") == ("Euler", "SGM Uniform")
    assert split_legacy_sampler_name("DDIM") == ("DDIM", None)
    assert split_legacy_sampler_name("Karras") == ("Karras", None)
    info = parse_infotext("x\nSteps: 1, Sampler: DPM++ SDE Karras, Hires sampler: Euler Polyexponential, Seed: 1")
    assert (info["Sampler"], info["Schedule type"]) == ("DPM++ SDE", "Karras")
    assert (info["Hires sampler"], info["Hires schedule type"]) == ("Euler", "Polyexponential")


def test_hash_like_values_stay_text():
    info = parse_infotext("x\nSteps: 1, Seed: 2, Model hash: 1234567890, VAE hash: 0001, Model: 123")
    assert info["Model hash"] == "1234567890" and info["VAE hash"] == "0001" and info["Model"] == "123"


def test_hypernet_backcompat_and_old_hires():
    info = parse_infotext("x [a:b:3]\nSteps: 1, Sampler: DDIM, Seed: 2, Hypernet: anime, Version: v1.5.1")
    assert info["Prompt"] == "x [a:b:3]<hypernet:anime:1.0>"
    assert info["Old prompt editing timelines"] is True
    assert info["Pad conds v0"] is True and info["Downcast alphas_cumprod"] is True
    info = parse_infotext("x\nSteps: 1, Seed: 2, Size: 1024x1024, First pass size: 0x0")
    assert (info["Size-1"], info["Size-2"]) == (512, 512)
    assert (info["Hires resize-1"], info["Hires resize-2"]) == (1024, 1024)
    assert "Downcast alphas_cumprod" not in parse_infotext(A1111_EXAMPLE)


def test_skip_fields_and_styles():
    class Styles:
        def extract_styles_from_prompt(self, prompt, negative):
            return ["S"], prompt.replace(", style", ""), negative

    info = parse_infotext("x, style\nSteps: 1, Seed: 2, CFG scale: 3", styles=Styles(), skip_fields=["Seed"])
    assert info["Prompt"] == "x" and info["Styles array"] == ["S"] and "Seed" not in info


# --- round trip ------------------------------------------------------------------------------------------

TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="\x85")
    | st.sampled_from([",", ":", '"', "\\", "\n", " ", "é", "日", "(", "[", "x"]),
    max_size=30,
)
NUMBER_KEYS = ["Steps", "CFG scale", "Seed", "Denoising strength", "Mask blur", "Emphasis", "ControlNet 0", "x-y/z"]
TEXT_KEYS = ["Model hash", "Model", "Lora hashes", "Hires upscaler", "Version"]  # never converted to numbers


def _normal_lines(text):
    """What survives the format: every line is stripped, leading blank lines of the whole text are dropped."""
    return "\n".join(line.strip() for line in text.lstrip().split("\n")) if text.strip() else ""


def _plain_text_value(value, key):
    return (
        value != key
        and not infotext._INT.match(value)
        and not infotext._FLOAT.match(value)
        and not infotext._IMAGE_SIZE.match(value)
    )


@st.composite
def generation(draw):
    params = {}
    for key in draw(st.lists(st.sampled_from(NUMBER_KEYS + TEXT_KEYS), min_size=3, unique=True)):
        if key in TEXT_KEYS:
            value = draw(TEXT.filter(lambda v, k=key: v != k))
        else:
            value = draw(
                st.integers(-(2**40), 2**40)
                | st.floats(allow_nan=False, allow_infinity=False)
                | TEXT.filter(lambda v, k=key: _plain_text_value(v, k))
            )
        params[key] = value
    prompt = draw(TEXT)
    negative = draw(TEXT)
    return prompt, negative, params


@settings(max_examples=300, deadline=None)
@given(generation())
def test_round_trip(case):
    prompt, negative, params = case
    assume(not any(line.strip().startswith("Negative prompt:") for line in prompt.split("\n")))
    text = create_infotext(prompt, negative, params)
    info = parse_infotext(text, auto_backcompat=False)
    assert info["Prompt"] == _normal_lines(prompt)
    assert info["Negative prompt"] == ("\n".join(line.strip() for line in negative.split("\n")) if negative else "")
    for key, value in params.items():
        assert info[key] == value, (key, text)
    as_text = parse_infotext(text, convert_numbers=False, auto_backcompat=False)
    for key, value in params.items():
        assert as_text[key] == str(value)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "Steps: 2, ",
                "Seed: x, ",
                "Size: 9x9, ",
                "First pass size: 0x0, ",
                "\n",
                ", ",
                'K: "a\\"b", ',
                "Hires resize: 1x2, ",
                "Clip skip: abc, ",
                "Version: v1.2.x, ",
                "Sampler: Karras, ",
                "Negative prompt: ",
                "(a:1.2) [b|c] ",
                ": ",
                '"',
                "é",
            ]
        ),
        max_size=25,
    ).map("".join)
)
def test_parse_never_raises(text):
    info = parse_infotext(text, use_old_hires_size=True)
    assert isinstance(info["Prompt"], str) and isinstance(info["Negative prompt"], str)
    assert ordered_params(info) is not None and create_infotext(info["Prompt"], "", ordered_params(info))
