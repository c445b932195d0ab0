"""Gradio 3.41 spellings build on our Gradio inside ``gradio3_shims()`` and only there."""

from __future__ import annotations

import inspect

import gradio as gr
import pytest

from modules.extensions.gradio3 import gradio3_shims, style_attributes, translate_kwargs


def test_translate_kwargs_renames_and_drops():
    out = translate_kwargs("Image", {"source": "upload", "tool": "sketch", "label": "x"}, {"sources", "label"})
    assert out == {"sources": ["upload"], "label": "x"}
    assert translate_kwargs("Gallery", {"grid": 4}, None) == {"columns": 4}
    assert translate_kwargs("Textbox", {"show_copy_button": True}, {"buttons"}) == {"buttons": ["copy"]}
    assert translate_kwargs("Textbox", {"show_copy_button": False}, {"buttons"}) == {}
    assert translate_kwargs("Slider", {"default": 3, "bogus": 1}, {"value"}) == {"value": 3}
    assert translate_kwargs("Checkbox", {"visible": False}, {"visible"}) == {"visible": "hidden"}
    tool = translate_kwargs("Button", {"variant": "tool", "elem_classes": "x"}, None)
    assert tool == {"variant": "secondary", "elem_classes": ["x", "tool"]}


def test_style_attributes_maps_known_keys_only():
    assert style_attributes({"container": False, "grid": 3, "full_width": True, "nonsense": 1}) == {
        "container": False,
        "columns": 3,
    }


def test_gradio3_ui_code_builds_inside_the_shims():
    with gr.Blocks() as demo, gradio3_shims():
        button = gr.Button("x", variant="tool")
        box = gr.Textbox(show_copy_button=True).style(container=False)
        with gr.Box(), gr.Row().style(equal_height=True) as row:
            slider = gr.inputs.Slider(minimum=1, maximum=5, default=3)
        gallery = gr.Gallery(grid=4)
        image = gr.Image(source="upload", tool="editor", shape=(4, 4))
        first = button.click(fn=lambda: gr.Textbox.update(value="hi"), _js="() => 1", inputs=[], outputs=[box])
        first.then(fn=None, _js="() => 2")

        def stream(text):
            yield gr.Slider.update(value=2)

        button.click(stream, [box], [slider])
    assert (button.variant, button.elem_classes) == ("secondary", ["tool"])
    assert (box.container, box.buttons, row.equal_height) == (False, ["copy"], True)
    assert (slider.value, gallery.columns, image.sources) == (3, 4, ["upload"])
    config = demo.get_config_file()
    assert [d["js"] for d in config["dependencies"]][:2] == ["() => 1", "() => 2"]
    # handlers run with the shims back on, though the build is over: Gradio 3's X.update works at click time
    handlers = [block_fn.fn for block_fn in demo.fns.values() if block_fn.fn is not None]
    assert handlers[0]() == {"__type__": "update", "value": "hi"}
    assert inspect.isgeneratorfunction(handlers[1])
    assert list(handlers[1]("a")) == [{"__type__": "update", "value": 2}]


def test_shims_are_gone_afterwards():
    with gradio3_shims(), gradio3_shims():  # nested: still on after the inner one ends
        pass
    assert not hasattr(gr, "Box") and not hasattr(gr, "inputs")
    assert not hasattr(gr.Button, "update") and not hasattr(gr.Textbox, "style")
    with gr.Blocks():
        with pytest.raises(TypeError):
            gr.Button("x", source="upload")
        with pytest.raises(TypeError):
            gr.Button("x").click(fn=None, _js="() => 1")
