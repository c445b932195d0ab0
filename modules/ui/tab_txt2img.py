"""txt2img tab."""

from __future__ import annotations

import gradio as gr


def build(backend, demo: gr.Blocks) -> None:
    with gr.Row():
        with gr.Column(scale=6):
            prompt = gr.Textbox(label="Prompt", lines=3, elem_id="txt2img_prompt", placeholder="Prompt")
            negative = gr.Textbox(label="Negative prompt", lines=2, elem_id="txt2img_neg_prompt",
                                  placeholder="Negative prompt")
        with gr.Column(scale=1):
            generate = gr.Button("Generate", variant="primary", elem_id="txt2img_generate")
    message = gr.Markdown(elem_id="txt2img_message")

    def run(prompt_text, negative_text):
        if backend.models is None:
            return backend.status
        if not backend.models.checkpoints():
            return backend.models.status
        return "Generation is not available yet."

    generate.click(run, [prompt, negative], message)
