"""The top bar: model status line and the quick settings (checkpoint, VAE, clip skip by default)."""

from __future__ import annotations

import gradio as gr


def build(backend, demo: gr.Blocks) -> None:
    with gr.Row(elem_id="quicksettings"):
        status = gr.Markdown(backend.status, elem_id="model_status")
    timer = gr.Timer(1.0)
    timer.tick(lambda: backend.status, None, status, show_progress="hidden")
    demo.load(lambda: backend.status, None, status, show_progress="hidden")
