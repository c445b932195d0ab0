"""Language files: discovery, merging with extensions, English fallback, bad files; the lookup rules the page
uses; the server-side string collection."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from modules.localization.catalog import LocalizationCatalog, read_language_file
from modules.localization.service import enabled_extension_dirs
from tools.localization.collect import config_strings, html_texts, ignored_ids, markdown_texts
from tools.localization.lookup import Translator, is_translatable
from tools.localization.messages import source_messages

ROOT = Path(__file__).resolve().parent.parent


def write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def layout(tmp_path):
    """A root localizations/ folder and two extensions, in load order ext_a, ext_b."""
    root = tmp_path / "localizations"
    ext_a, ext_b = tmp_path / "extensions" / "ext_a", tmp_path / "extensions" / "ext_b"
    write(root / "zh_CN.json", {"Generate": "生成", "Seed": "种子", "Steps": "步数"})
    write(root / "de_DE.json", {"Generate": "Generieren"})
    write(root / "notes.txt", "not a language")
    write(ext_a / "localizations" / "zh_CN.json", {"Seed": "随机数种子", "ControlNet": "ControlNet 控制"})
    write(ext_b / "localizations" / "zh_CN.json", {"ControlNet": "控制网络"})
    write(ext_b / "localizations" / "fr_FR.json", {"Generate": "Générer"})
    return root, [ext_a, ext_b]


def test_discovery_lists_root_and_extension_languages(layout):
    root, extensions = layout
    catalog = LocalizationCatalog(root, lambda: extensions)
    assert catalog.names() == ["de_DE", "fr_FR", "zh_CN"]
    assert catalog.choices() == ["None", "de_DE", "fr_FR", "zh_CN"]
    assert [p.parent.parent.name for p in catalog.files()["zh_CN"][1:]] == ["ext_a", "ext_b"]


def test_extension_files_merge_root_first_later_wins(layout):
    root, extensions = layout
    strings = LocalizationCatalog(root, lambda: extensions).strings("zh_CN")
    assert strings == {"Generate": "生成", "Seed": "随机数种子", "Steps": "步数", "ControlNet": "控制网络"}
    reversed_order = LocalizationCatalog(root, lambda: list(reversed(extensions))).strings("zh_CN")
    assert reversed_order["ControlNet"] == "ControlNet 控制"


def test_none_unknown_and_missing_strings_fall_back_to_english(layout, caplog):
    root, extensions = layout
    catalog = LocalizationCatalog(root, lambda: extensions)
    assert catalog.strings("None") == {} and catalog.strings("") == {} and catalog.strings(None) == {}
    with caplog.at_level(logging.WARNING):
        assert catalog.strings("xx_XX") == {}
    assert "xx_XX" in caplog.text
    assert catalog.translate("zh_CN", "Generate") == "生成"
    assert catalog.translate("zh_CN", "Batch size") == "Batch size"
    assert catalog.translate("de_DE", "Seed") == "Seed"


def test_malformed_and_non_object_files_are_logged_by_name_and_skipped(layout, caplog):
    root, extensions = layout
    write(root / "broken.json", '{"Generate": "生成",')
    write(root / "list.json", '["Generate", "生成"]')
    write(extensions[0] / "localizations" / "zh_CN.json", "{oops")
    catalog = LocalizationCatalog(root, lambda: extensions)
    with caplog.at_level(logging.ERROR):
        names = catalog.names()
        strings = catalog.strings("zh_CN")
    assert names == ["de_DE", "fr_FR", "zh_CN"]
    assert strings == {"Generate": "生成", "Seed": "种子", "Steps": "步数", "ControlNet": "控制网络"}
    for name in ("broken.json", "list.json", str(extensions[0] / "localizations" / "zh_CN.json")):
        assert name in caplog.text
    assert "found list" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        catalog.strings("zh_CN")  # unchanged bad files are reported once, not at every page load
    assert caplog.text == ""


def test_a1111_file_with_unknown_keys_rtl_and_odd_values_loads(tmp_path, caplog):
    entries = {f"Some A1111 string {n}": f"翻译 {n}" for n in range(500)}
    entries.update({"rtl": True, "Steps": 20, "Seed": None, "Multi\nline {}": "多行 {}"})
    path = write(tmp_path / "ar_A1111.json", entries)
    with caplog.at_level(logging.WARNING):
        loaded = read_language_file(path)
    assert loaded["rtl"] is True and loaded["Multi\nline {}"] == "多行 {}"
    assert "Steps" not in loaded and "Seed" not in loaded and len(loaded) == 502
    assert "2 entries" in caplog.text and "ar_A1111.json" in caplog.text


def test_edited_file_is_read_again_without_restart(tmp_path):
    path = write(tmp_path / "zh_CN.json", {"Generate": "生成"})
    catalog = LocalizationCatalog(tmp_path)
    assert catalog.strings("zh_CN") == {"Generate": "生成"}
    write(path, {"Generate": "开始生成"})
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10_000_000))
    write(tmp_path / "ja_JP.json", {"Generate": "生成する"})
    assert catalog.strings("zh_CN") == {"Generate": "开始生成"}
    assert catalog.choices() == ["None", "ja_JP", "zh_CN"]


def test_extension_dirs_follow_a1111_order_and_disabled_settings(tmp_path):
    builtin, user = tmp_path / "builtin", tmp_path / "user"
    for folder in (builtin / "b2", builtin / "b1", user / "u1", user / "u2", user / ".hidden"):
        folder.mkdir(parents=True)
    settings = {"disabled_extensions": ["u2"], "disable_all_extensions": "none"}
    assert [p.name for p in enabled_extension_dirs(builtin, user, settings)] == ["b1", "b2", "u1"]
    settings["disable_all_extensions"] = "extra"
    assert [p.name for p in enabled_extension_dirs(builtin, user, settings)] == ["b1", "b2"]
    settings["disable_all_extensions"] = "all"
    assert enabled_extension_dirs(builtin, user, settings) == []


def test_backend_serves_the_chosen_language_and_setting_lists_languages(tmp_path):
    import webui
    from modules.localization.service import install_localization
    from modules.settings.cli import parse_flags

    languages = tmp_path / "langs"
    write(languages / "zh_CN.json", {"Generate": "生成"})
    write(languages / "bad.json", "[1, 2]")
    backend = webui.build_backend(
        parse_flags(["--data-dir", str(tmp_path / "data"), "--localizations-dir", str(languages)])
    )
    catalog = install_localization(backend)
    assert backend.localization is catalog
    assert backend.settings.registry["localization"].choice_list() == ["None", "zh_CN"]
    assert backend.localization_js().strip() == "window.localization = {};"
    backend.settings.set("localization", "zh_CN")
    script = backend.localization_js()
    assert script.startswith("window.localization = ") and '"Generate": "生成"' in script
    assert json.loads((tmp_path / "data" / "config.json").read_text(encoding="utf-8"))["localization"] == "zh_CN"
    write(languages / "zh_CN.json", {"Generate": "开始"})  # a new page load reads the file again
    os.utime(languages / "zh_CN.json", ns=(0, 10**18))
    assert '"Generate": "开始"' in backend.localization_js()


# --- the page's lookup rules -------------------------------------------------------------------------------


def test_lookup_exact_patterns_and_fallback():
    translator = Translator(
        {
            "Generate": "生成",
            "Empty": "",
            "Width": "宽度",
            "range slider for {label}": "{label} 滑块",
            "Loading {name}...": "正在加载 {name}...",
            "{x}": "swallows everything",
            "Style {name} saved.": "样式 {name} 已保存。",
        }
    )
    assert translator.translate("  Generate ") == "生成"
    assert translator.translate("Empty") is None  # an empty translation shows English
    assert translator.translate("range slider for Width") == "宽度 滑块"  # pieces translated when known
    assert translator.translate("Loading model.safetensors...") == "正在加载 model.safetensors..."
    assert translator.translate("Style 'a' saved.") == "样式 'a' 已保存。"
    assert translator.translate("Something else") is None  # "{x}" has too little text to be a pattern
    changed = Translator(
        {
            "{n} changed: {keys}.": "{n} 项已更改：{keys}。",
            "{n} changed: {keys}. Press Reload UI.": "{n} 项已更改：{keys}。请重载。",
        }
    )
    assert changed.translate("2 changed: a, b. Press Reload UI.") == "2 项已更改：a, b。请重载。"
    assert changed.translate("2 changed: a, b.") == "2 项已更改：a, b。"
    assert translator.translate("Style Width, Height saved.") == "样式 宽度, Height 已保存。"  # list items
    assert translator.translate("Generate 💥") == "生成 💥"  # emoji are decoration
    assert translator.translate("Prompt\n(two lines)") is None
    two_lines = Translator({"Prompt\n(two lines)": "提示词\n(两行)"})
    assert two_lines.translate("Prompt\n(two lines)") == "提示词\n(两行)"
    assert translator.missing(["Generate", "Batch", "42", "0.5s", "🎲️", "Batch"]) == ["Batch"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Generate", True),
        ("42", False),
        ("1.2/3.4s", False),
        ("512x512", False),
        ("🎲️ Seed", True),
        ("🎲️", False),
        ("⇅", False),
        ("Step 3/20", True),
        ("生成", True),
    ],
)
def test_translatable_text(text, expected):
    assert is_translatable(text) is expected


# --- collection ------------------------------------------------------------------------------------------


def test_ignored_ids_are_read_from_the_page_translator():
    ids, patterns = ignored_ids()
    assert {"setting_sd_model_checkpoint", "txt2img_styles", "html_info_txt2img"} <= ids
    assert any(p.search("txt2img_lora_cards") for p in patterns)


def test_markup_texts_are_split_like_text_nodes():
    assert html_texts('<p title="Tip">A merger in your <b>checkpoint</b> dir.<code>--api</code></p>') == [
        "Tip",
        "A merger in your",
        "checkpoint",
        "dir.",
    ]
    assert html_texts('<div class="notranslate">name.ckpt</div><span>Kept</span>') == ["Kept"]
    assert markdown_texts("### User interface\n\nPress **Apply** now") == ["User interface", "Press", "Apply", "now"]


def test_config_strings_take_labels_choices_and_text_but_not_values():
    import gradio as gr

    with gr.Blocks() as demo:
        with gr.Tab("txt2img"):
            gr.Slider(label="Sampling steps", info="more is slower", value=20)
            gr.Dropdown(label="Sampling method", choices=[("Euler a", "euler_a"), "DPM++ 2M"], value="euler_a")
            gr.Textbox(label="Prompt", value="a cat, masterpiece", placeholder="Prompt here")
            gr.Button("Generate")
            gr.Markdown("### Hints\n\nUse **this**")
        with gr.Accordion("Hires. fix"):
            gr.Radio(label="Upscaler", choices=["Latent", "None"])
        gr.Dropdown(
            label="Stable Diffusion checkpoint",
            choices=["None", "model.safetensors"],
            elem_id="setting_sd_model_checkpoint",
        )
        gr.Radio(label="Mine", choices=["secret.ckpt"], elem_classes=["notranslate"])
    texts = [item.text for item in config_strings(demo.get_config_file())]
    assert texts == [
        "txt2img",
        "Sampling steps",
        "more is slower",
        "Sampling method",
        "Euler a",
        "DPM++ 2M",
        "Prompt",
        "Prompt here",
        "Generate",
        "Hints",
        "Use",
        "this",
        "Hires. fix",
        "Upscaler",
        "Latent",
        "None",
        "Stable Diffusion checkpoint",
        "Mine",
    ]


def test_messages_are_found_in_source_as_patterns(tmp_path):
    source = write(
        tmp_path / "tab.py",
        (
            "def f(style, error, path):\n"
            "    info_html(f'Style {style.name!r} saved.')\n"
            "    gr.Warning('Choose the primary model (A) first.')\n"
            "    error_html(f'Could not save: {describe_error(error)}')\n"
            "    error_html(f'{path.name}: {describe_error(error)}')\n"
            "    error_html(message)\n"
        ),
    )
    assert [m.text for m in source_messages([source])] == [
        "Style {name} saved.",
        "Choose the primary model (A) first.",
        "Could not save: {error}",
    ]


def test_runtime_code_never_imports_the_translation_tooling():
    import ast

    offenders = []
    for path in sorted((ROOT / "modules").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(ROOT)}: {name}" for name in names if name.split(".")[0] == "tools"]
    assert not offenders, offenders
