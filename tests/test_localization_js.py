"""The in-page translator (modules/ui/static/localization.js) on a small page shaped like Gradio's, in Chromium:
text nodes and attributes, nodes added or changed later, dropdown values, ignored components, patterns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "modules" / "ui" / "static" / "localization.js"

DICTIONARY = {
    "txt2img": "文生图",
    "Sampling steps": "迭代步数",
    "Sampling method": "采样方法",
    "Euler a": "Euler a",
    "DPM++ 2M": "DPM++ 2M",
    "Automatic": "自动",
    "None": "无",
    "Prompt": "提示词",
    "Generate": "生成",
    "Stable Diffusion checkpoint": "Stable Diffusion 模型",
    "Tooltip text": "提示文字",
    "range slider for {label}": "{label}滑块",
    "Loading {name}...": "正在加载 {name}...",
    "Karras": "Karras",
    "Batch": "批次",
    "Interrupted.": "已中断。",
    "Two\nlines": "两\n行",
    "{n} changed: {keys}.": "{n} 项已更改：{keys}。",
    "{n} changed: {keys}. Press Reload UI.": "{n} 项已更改：{keys}。请重载。",
}

PAGE = """
<div id="root">
  <div role="tablist"><button role="tab" id="tab_txt2img-button"> txt2img </button></div>
  <div id="txt2img_steps"><span data-testid="block-info">Sampling steps</span>
    <input type="range" aria-label="range slider for Sampling steps"><input type="number" value="20"></div>
  <div id="txt2img_sampling"><span data-testid="block-info">Sampling method</span>
    <input role="combobox" id="sampler_input"><ul><li role="option"><span>✓</span> Automatic</li></ul></div>
  <div id="setting_sd_model_checkpoint"><span data-testid="block-info">Stable Diffusion checkpoint</span>
    <input role="combobox" id="ckpt_input" aria-label="Stable Diffusion checkpoint">
    <ul><li role="option" title="None" aria-label="None">None</li>
        <li role="option" aria-label="my_model.safetensors">my_model.safetensors</li></ul></div>
  <div class="notranslate"><span>Generate</span></div>
  <textarea id="prompt" placeholder="Prompt">Generate</textarea>
  <button id="go" title="Tooltip text">Generate</button><button id="run">Generate 💥</button>
  <p id="lines">Two
lines</p>
  <p id="numbers">42</p><p id="timer">0.5s</p><code id="code">Generate</code>
  <p id="status">Loading model.safetensors...</p><p id="changed">2 changed: a, Batch. Press Reload UI.</p>
  <p id="missing">Not in the dictionary</p>
</div>
"""


def open_page(page, dictionary):
    page.set_content(PAGE)
    # Gradio sets dropdown values before our script runs
    page.evaluate("() => { sampler_input.value = 'Euler a'; ckpt_input.value = 'None'; }")
    page.add_script_tag(content="window.localization = " + json.dumps(dictionary) + ";")
    page.add_script_tag(content=SCRIPT.read_text(encoding="utf-8"))
    page.wait_for_function("() => window.webuiLocalization.ready")


def text(page, selector):
    return page.evaluate("(s) => document.querySelector(s).textContent.trim()", selector)


def test_page_is_translated_and_values_are_left_alone(page):
    open_page(page, DICTIONARY)
    assert text(page, "#tab_txt2img-button") == "文生图"
    assert page.evaluate("() => document.querySelector('#tab_txt2img-button').textContent") == " 文生图 "
    assert text(page, "#txt2img_steps span") == "迭代步数"
    assert page.get_attribute("#txt2img_steps input[type=range]", "aria-label") == "迭代步数滑块"
    assert page.get_attribute("#go", "title") == "提示文字" and text(page, "#go") == "生成"
    assert text(page, "#run") == "生成 💥" and text(page, "#lines") == "两\n行"
    assert page.get_attribute("#prompt", "placeholder") == "提示词"
    assert page.input_value("#prompt") == "Generate"  # user content is never touched
    assert text(page, "#txt2img_sampling li") == "✓ 自动"
    assert text(page, "#status") == "正在加载 model.safetensors..."
    assert text(page, "#changed") == "2 项已更改：a, 批次。请重载。"  # most specific pattern; list items
    for selector, original in (
        ("#numbers", "42"),
        ("#timer", "0.5s"),
        ("#code", "Generate"),
        (".notranslate span", "Generate"),
        ("#missing", "Not in the dictionary"),
    ):
        assert text(page, selector) == original
    # an ignored component: label and aria-label translated, its choices (model names) not
    assert text(page, "#setting_sd_model_checkpoint span") == "Stable Diffusion 模型"
    assert page.get_attribute("#ckpt_input", "aria-label") == "Stable Diffusion 模型"
    assert text(page, "#setting_sd_model_checkpoint li") == "None"
    assert page.get_attribute("#setting_sd_model_checkpoint li", "title") == "None"
    assert page.get_attribute("#setting_sd_model_checkpoint li", "aria-label") == "None"
    assert "my_model.safetensors" not in page.evaluate("() => webuiLocalization.seen()")
    assert page.evaluate("() => ckpt_input.value") == "None"
    assert "Not in the dictionary" in page.evaluate("() => webuiLocalization.missing()")


def test_later_changes_are_translated(page):
    open_page(page, DICTIONARY)
    page.evaluate("""() => {
        const p = document.createElement('p'); p.id = 'added'; p.textContent = 'Interrupted.';
        document.getElementById('root').appendChild(p);
        document.querySelector('#txt2img_steps span').firstChild.nodeValue = 'Batch';
        document.getElementById('numbers').title = 'Tooltip text';
    }""")
    page.wait_for_function("() => document.getElementById('added').textContent === '已中断。'")
    page.wait_for_function("() => document.querySelector('#txt2img_steps span').textContent === '批次'")
    page.wait_for_function("() => document.getElementById('numbers').title === '提示文字'")


def test_dropdown_shows_translation_but_keeps_its_value_english(page):
    open_page(page, DICTIONARY)
    assert page.evaluate("() => sampler_input.value") == "Euler a"
    page.evaluate("() => { sampler_input.value = 'Automatic'; }")  # what Svelte does on a new choice
    assert page.evaluate("() => sampler_input.value") == "自动"
    page.focus("#sampler_input")
    page.keyboard.type("Kar")  # the user's own typing is left as typed
    assert page.evaluate("() => sampler_input.value").endswith("Kar")


def test_english_page_is_untouched_but_strings_can_be_collected(page):
    open_page(page, {})
    assert text(page, "#tab_txt2img-button") == "txt2img"
    assert page.evaluate("() => sampler_input.value") == "Euler a"
    seen = page.evaluate("() => webuiLocalization.seen()")
    expected = {"txt2img", "Sampling steps", "Generate", "Tooltip text", "Prompt", "Stable Diffusion checkpoint"}
    assert expected <= set(seen)
    assert "42" not in seen and "None" not in seen  # numbers; names inside an ignored component


@pytest.mark.parametrize("bad", ["[1, 2]", "null", "'text'"])
def test_odd_dictionary_values_leave_the_page_in_english(page, bad):
    page.set_content(PAGE)
    page.add_script_tag(content=f"window.localization = {bad};")
    page.add_script_tag(content=SCRIPT.read_text(encoding="utf-8"))
    page.wait_for_function("() => window.webuiLocalization.ready", timeout=15_000)
    assert text(page, "#tab_txt2img-button") == "txt2img"
