"""The app's handler behind a default ``gr.Sketchpad()``: the baseline for latency.

Run from the repository root (``bench_stroke_latency.py`` starts it for you):

    python benchmarks/default_sketchpad_app.py

Everything Gradio decides is left at its default: the 800x800 canvas, the "auto" brush,
the layers, the event's progress display and queue. Only what the benchmark needs to
find on the page is set: the element ids, and the same outputs and CSS as ``app.py``,
so that the two pages differ in the Sketchpad and its event and in nothing else.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import app


def build_demo():
    import gradio as gr

    holder = app.default_holder()

    def on_draw(drawing):
        return app.classify(drawing, app.FOLLOW_CURRENT, holder)

    with gr.Blocks(title="Default Sketchpad") as demo:
        with gr.Row():
            sketchpad = gr.Sketchpad(elem_id="sketchpad")
            with gr.Column():
                prediction = gr.HTML(app.answer_html(None), elem_id="prediction")
                bars = gr.HTML(app.bars_html(None), elem_id="bars")
        model_view = gr.HTML(app.model_view_html(None), elem_id="model-view")
        sketchpad.change(on_draw, [sketchpad], [prediction, bars, model_view])
    return demo


if __name__ == "__main__":
    build_demo().launch(**app.server_settings(), css=app.CSS)
