"""The app as it was before the fast path: the Sketchpad's own change event only.

Run from the repository root (``bench_stroke_latency.py`` starts it for you):

    python benchmarks/previous_path_app.py

Everything is ``app.py``'s, except that the page gets no fast-path script, so the
hidden textbox is never filled and every answer waits for the canvas read-back.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import app
import fast_path


def no_fast_path_js(*_arguments) -> str:
    return "() => {}"


if __name__ == "__main__":
    fast_path.fast_path_js = no_fast_path_js
    app.main()
