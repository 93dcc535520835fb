"""Browser-side help for Gradio's Sketchpad: the pen is ready whenever the canvas is.

Gradio 6's Sketchpad selects no tool when the page loads and after Clear (its
ImageEditor resets to the "image" tool whenever its value is empty), so a learner's
first drag draws nothing until they find the brush icon. Gradio has no option for
this. `pen_ready_js` returns a small script for ``demo.load(js=...)`` that watches the
page and, whenever the Sketchpad shows a canvas but no tool is active, clicks its
first tool button, which is the brush.

The script relies on two things in Gradio's markup, both checked by
``tests/test_pen.py``: the tool buttons sit in ``.toolbar-wrap``, brush first, and the
active tool's button has the class ``highlight``. It reads no label, so it works in
every language the page is shown in. It never overrides a choice: with the eraser or
the pan tool active, it does nothing.
"""

from __future__ import annotations

import json

PEN_READY_JS = """
() => {
  const padSelector = %(pad)s;
  const selectPenWhereNoTool = () => {
    for (const pad of document.querySelectorAll(padSelector)) {
      if (!pad.querySelector('.pixi-target canvas')) continue;
      if (pad.querySelector('button.highlight')) continue;
      const pen = pad.querySelector('.toolbar-wrap button');
      if (pen && !pen.disabled) pen.click();
    }
  };
  let scheduled = false;
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    queueMicrotask(() => { scheduled = false; selectPenWhereNoTool(); });
  };
  new MutationObserver(schedule).observe(document.body, {
    subtree: true, childList: true, attributes: true, attributeFilter: ['class'],
  });
  schedule();
}
"""


def pen_ready_js(elem_id: str) -> str:
    """The script for the Sketchpad with this ``elem_id``, as ``demo.load`` takes it."""
    return PEN_READY_JS % {"pad": json.dumps(f"#{elem_id}")}
