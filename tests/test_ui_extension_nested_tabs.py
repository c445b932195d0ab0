"""Tabs nested in an extension's tab are in the page when ``onUiLoaded`` runs, as on A1111's page (Gradio
renders a tab only once shown), also when the extension's ``gr.Tabs`` holds a component beside its tabs
(Gradio 3 allowed it; current Gradio then numbers the tabs wrongly). The extension is written here."""

from __future__ import annotations

import textwrap

EXTENSION = {
    "scripts/nested.py": """
        import gradio as gr
        from modules import script_callbacks


        def tabs():
            with gr.Blocks() as block:
                with gr.Tabs(elem_id="nested_outer"):
                    gr.Textbox(visible=False, elem_id="nested_stray")
                    for outer in ("a", "b", "c"):
                        with gr.Tab(outer, elem_id=f"nested_{outer}"):
                            with gr.Tabs():
                                for inner in ("x", "y"):
                                    with gr.Tab(inner, elem_id=f"nested_{outer}_{inner}"):
                                        gr.Textbox(elem_id=f"nested_{outer}_{inner}_box")
            return [(block, "Nested", "nested")]


        script_callbacks.on_ui_tabs(tabs)
    """,
    "javascript/nested.js": """
        onUiLoaded(() => {
            window.nestedAtLoad = Array.from(document.querySelectorAll("[id^=nested_][id$=_box]")).map((e) => e.id);
            window.nestedButtons = Array.from(document.querySelectorAll("#nested_outer button[role=tab]"))
                .map((b) => b.textContent.trim());
        });
    """,
}


def test_every_nested_extension_tab_is_in_the_page_at_ui_loaded(tmp_path, start_server, page):
    data = tmp_path / "data"
    for relative, text in EXTENSION.items():
        path = data / "extensions" / "nested-tabs" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    server = start_server([], data_dir=data)
    page.goto(server.url)
    page.wait_for_function("window.__webuiUiLoaded === true && window.nestedAtLoad !== undefined", timeout=180_000)
    expected = sorted(f"nested_{o}_{i}_box" for o in "abc" for i in "xy")
    assert sorted(page.evaluate("window.nestedAtLoad")) == expected
    assert page.evaluate("window.nestedButtons")[:3] == ["a", "b", "c"]  # each outer tab once, in order
    assert page.evaluate("get_uiCurrentTab().id") == "tab_txt2img-button"  # the selection was put back
