"""Gradio 3 let components sit in a ``gr.Tabs`` beside its tabs; moved after it, every tab keeps its place."""

from __future__ import annotations

import gradio as gr

from modules.extensions.gradio3_layout import hoist_stray_tab_children, walk_blocks


def test_components_inside_tabs_move_after_them_and_tabs_keep_their_order():
    with gr.Blocks() as demo, gr.Column() as column:
        with gr.Tabs() as tabs:
            hidden = gr.Textbox(visible=False)
            with gr.Tab("one") as one:
                gr.Button("in one")
            with gr.Tab("two") as two:
                gr.Button("in two")
        after = gr.Button("after")
    assert hoist_stray_tab_children(demo) == 1
    assert tabs.children == [one, two]
    assert column.children[0] is tabs and column.children[-1] is after and len(column.children) == 3
    assert hidden not in walk_blocks(tabs) and hidden in walk_blocks(column.children[1])  # (Gradio wraps it in a Form)
    assert column.children[1].parent is column
    assert hoist_stray_tab_children(demo) == 0  # nothing left to move
    assert demo in walk_blocks(demo) and hidden in walk_blocks(demo)
