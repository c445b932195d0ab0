"""Choosing a language in a real server through the page: Settings -> Localization, Apply, Reload UI.

The page turns Chinese (tab names, buttons, slider labels, dropdown choices, Settings labels), generation still
works and writes an English infotext, nothing the page shows lacks a translation, and "None" brings English
back. One server and one browser page for the whole story, to keep it fast.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

from PIL import Image

from tests.checkpoint_factory import write_checkpoint
from tools.localization.page_walk import wait_translator, walk

LABEL = '[data-testid="block-info"]'
ZH_CN = Path(__file__).resolve().parent.parent / "localizations" / "zh_CN.json"


def choose_language(page, name: str) -> None:
    """Settings -> User interface -> Localization = ``name``, Apply settings, Reload UI."""
    page.locator("#tab_settings-button").click()
    page.locator('#settings_sections input[value="ui"]').check()
    dropdown = page.locator("#setting_localization input[role=combobox]")
    dropdown.click()
    pick_option(page, "setting_localization", name)
    page.locator("#settings_submit").click()
    page.locator("#settings_result").filter(has_text=re.compile(r"localization|本地化", re.I)).wait_for()
    with page.expect_navigation(timeout=60_000):  # Reload UI asks the server, then reloads the page
        page.locator("#settings_reload_ui").click()
    page.wait_for_load_state("load")
    wait_translator(page)


def pick_option(page, elem_id: str, text: str) -> None:
    """Click the option of an open dropdown whose text is exactly ``text`` (besides the check mark)."""
    page.locator(f"#{elem_id} li[role=option]", has_text=re.compile(rf"^\W*{re.escape(text)}\s*$")).click()


def wait_config(data, key: str, value, timeout: float = 15.0) -> None:
    """Wait until config.json holds ``key: value``."""
    deadline = time.monotonic() + timeout
    stored = None
    while time.monotonic() < deadline:
        try:
            stored = json.loads((data / "config.json").read_text(encoding="utf-8")).get(key)
        except (OSError, ValueError):
            stored = None
        if stored == value:
            return
        time.sleep(0.1)
    raise AssertionError(f"config.json {key} = {stored!r}, expected {value!r}")


def label(page, elem_id: str) -> str:
    return page.locator(f"#{elem_id} {LABEL}").first.inner_text().strip()


def set_number(page, elem_id: str, value: int) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def test_choose_chinese_generate_and_switch_back(start_server, page, tmp_path):
    data = tmp_path / "data"
    write_checkpoint("sd15_tiny", data / "models" / "Stable-diffusion" / "tiny.safetensors")
    languages = tmp_path / "languages"  # the shipped zh_CN beside two bad files, which must not matter
    languages.mkdir()
    shutil.copy(ZH_CN, languages / "zh_CN.json")
    (languages / "broken.json").write_text('{"Generate": ', encoding="utf-8")
    (languages / "list.json").write_text('["Generate"]', encoding="utf-8")
    server = start_server(["--localizations-dir", str(languages)], data_dir=data)
    page.goto(server.url)
    wait_translator(page)
    assert page.locator("#tab_txt2img-button").inner_text().strip() == "txt2img"
    page.locator("#tab_settings-button").click()
    page.locator('#settings_sections input[value="ui"]').check()
    page.locator("#setting_localization input[role=combobox]").click()
    options = page.locator("#setting_localization li[role=option]").all_inner_texts()
    assert [option.strip(" ✓\n") for option in options] == ["None", "zh_CN"]
    page.keyboard.press("Escape")
    assert "broken.json" in server.log() and "list.json" in server.log()

    choose_language(page, "zh_CN")
    wait_config(data, "localization", "zh_CN")
    assert page.locator("#tab_txt2img-button").inner_text().strip() == "文生图"
    assert page.locator("#tab_settings-button").inner_text().strip() == "设置"
    assert page.locator("#txt2img_generate").inner_text().strip() == "生成"
    assert label(page, "txt2img_steps") == "迭代步数"
    assert label(page, "txt2img_cfg_scale").startswith("提示词引导系数")

    # a dropdown choice: shown in Chinese, sent in English (the infotext below says "Uniform")
    page.locator("#txt2img_scheduler input[role=combobox]").click()
    pick_option(page, "txt2img_scheduler", "均匀")
    assert page.locator("#txt2img_scheduler input[role=combobox]").input_value() == "均匀"

    # the same in the top bar, where the choice is stored at once: config.json gets the English value
    page.locator("#setting_sd_vae input[role=combobox]").click()
    pick_option(page, "setting_sd_vae", "无")
    assert page.locator("#setting_sd_vae input[role=combobox]").input_value() == "无"
    wait_config(data, "sd_vae", "None")

    page.locator("#txt2img_prompt textarea").fill("a red cube")
    set_number(page, "txt2img_steps", 2)
    set_number(page, "txt2img_width", 64)
    set_number(page, "txt2img_height", 64)
    page.locator("#txt2img_generate").click()
    info = page.locator("#html_info_txt2img")
    info.filter(has_text="Steps: 2").wait_for(timeout=120_000)
    text = info.inner_text()
    assert "a red cube" in text and "Schedule type: Uniform" in text and "Size: 64x64" in text
    saved = sorted((data / "outputs").rglob("*.png"))
    assert saved, "no image written"
    parameters = Image.open(saved[-1]).info["parameters"]
    assert "Steps: 2" in parameters and "Schedule type: Uniform" in parameters
    assert not re.search(r"[\u4e00-\u9fff]", parameters), parameters

    # a Settings label, a Settings radio choice (stored in English), and every string of every tab and
    # accordion has its translation
    page.locator("#tab_settings-button").click()
    page.locator('#settings_sections input[value="ui"]').check()
    assert label(page, "setting_localization") == "本地化翻译"
    page.locator('#settings_sections input[value="ui-live-preview"]').check()
    page.locator("#setting_show_progress_type label", has_text="完整").click()
    page.locator("#settings_submit").click()
    wait_config(data, "show_progress_type", "Full")
    strings = walk(page)
    assert strings.missing == [], f"zh_CN lacks {len(strings.missing)} strings the page shows: {strings.missing}"

    choose_language(page, "None")
    assert page.locator("#tab_txt2img-button").inner_text().strip() == "txt2img"
    assert page.locator("#txt2img_generate").inner_text().strip() == "Generate"
    assert label(page, "txt2img_steps") == "Sampling steps"
