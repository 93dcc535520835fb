"""What one stroke costs the server when a real browser draws it: ours against the
naive app, in one run.

Run from the repository root (needs Debian's ``chromium`` and Playwright, as the
browser tests do):

    python benchmarks/bench_page_traffic.py [--strokes 12]

Starts ``app.py`` and ``benchmarks/naive_app.py``, opens each in headless Chromium,
and draws the same strokes on each, one after the other on one canvas, waiting after
each until the page has sent nothing for a second. Every request the page makes is
counted by kind, and the server's CPU time is read from ``/proc`` over the strokes,
less what the idle server used in as long a time before them.

Kinds: ``upload`` (``/gradio_api/upload``: the Sketchpad's images as files of an
event), ``blobs`` (``/gradio_api/component_server``: the Sketchpad's images sent ahead
of an event), ``join`` (an event joining the queue) and ``direct`` (an event outside
the queue: ours, the fast path's picture). ``bench_classroom.py`` replays these
figures for each tab (``queue_api.PAGE_TRAFFIC``).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from queue_api import NAIVE_CANVAS_SIDE, running  # noqa: E402

from app import CANVAS_SIDE  # noqa: E402
from tests.serving import chromium_page  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
QUIET_S = 1.0
KINDS = {
    "/gradio_api/upload": "upload",
    "/gradio_api/component_server": "blobs",
    "/gradio_api/queue/join": "join",
    "/gradio_api/run/": "direct",
}
# Short strokes in [0, 1] of the drawing surface, in different places, as a student
# draws a digit and then another over it.
STROKES = [
    [(0.5, 0.15), (0.5, 0.5), (0.5, 0.85)],
    [(0.25, 0.2), (0.75, 0.2), (0.4, 0.85)],
    [(0.3, 0.5), (0.7, 0.5)],
    [(0.2, 0.3), (0.4, 0.7), (0.6, 0.3)],
]
SIDES = {"ours": CANVAS_SIDE, "naive": NAIVE_CANVAS_SIDE}


def server_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def drawing_square(page, canvas_side: int) -> tuple[float, float, float]:
    """Left, top and side of the drawing surface in CSS pixels, at the zoom the
    Sketchpad's toolbar shows."""
    left, top, width, height, text = page.eval_on_selector(
        ".pixi-target canvas",
        "e => { const r = e.getBoundingClientRect();"
        " return [r.x, r.y, r.width, r.height, e.closest('.block').innerText]; }",
    )
    side = canvas_side * float(re.search(r"(\d+)%", text).group(1)) / 100
    return left + (width - side) / 2, top + (height - side) / 2, side


def measure(name: str, strokes: int) -> dict:
    with running(name) as endpoint, chromium_page() as page:
        page.goto(endpoint.url)
        page.wait_for_selector(".pixi-target canvas", timeout=60_000)
        page.click("button[aria-label='Brush']")
        posts: list[tuple[float, str]] = []
        page.on(
            "request",
            lambda request: (
                request.method == "POST"
                and posts.append((time.perf_counter(), request.url))
            ),
        )

        def wait_quiet() -> None:
            while True:
                page.wait_for_timeout(QUIET_S * 1000)
                last = posts[-1][0] if posts else 0.0
                if time.perf_counter() - last >= QUIET_S:
                    return

        left, top, side = drawing_square(page, SIDES[name])

        def stroke(points) -> None:
            page.mouse.move(left + points[0][0] * side, top + points[0][1] * side)
            page.mouse.down()
            for x, y in points[1:]:
                page.mouse.move(left + x * side, top + y * side, steps=4)
            page.mouse.up()
            wait_quiet()

        stroke(STROKES[0])  # Warm-up: the page's first event sets things up.
        idle_start, idle_cpu = time.perf_counter(), server_cpu_seconds(endpoint.pid)
        page.wait_for_timeout(3000)
        idle_rate = (server_cpu_seconds(endpoint.pid) - idle_cpu) / (
            time.perf_counter() - idle_start
        )
        posts.clear()
        start, cpu = time.perf_counter(), server_cpu_seconds(endpoint.pid)
        for number in range(strokes):
            stroke(STROKES[number % len(STROKES)])
        elapsed = time.perf_counter() - start
        busy = server_cpu_seconds(endpoint.pid) - cpu - idle_rate * elapsed
    counts = Counter()
    for _, url in posts:
        path = "/" + url.split("/", 3)[3].split("?")[0]
        counts[next((k for p, k in KINDS.items() if path.startswith(p)), "other")] += 1
    return {"counts": counts, "cpu_ms": busy * 1e3 / strokes, "strokes": strokes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strokes", type=int, default=12, help="strokes per page")
    args = parser.parse_args()
    results = {name: measure(name, args.strokes) for name in ("ours", "naive")}
    kinds = ["upload", "blobs", "join", "direct", "other"]
    print(f"requests per stroke in headless Chromium, {args.strokes} strokes each")
    print(f"{'app':<8}" + "".join(f"{k:>8}" for k in kinds) + f"{'server ms':>11}")
    for name, result in results.items():
        per_stroke = [result["counts"][k] / result["strokes"] for k in kinds]
        print(
            f"{name:<8}"
            + "".join(f"{value:>8.1f}" for value in per_stroke)
            + f"{result['cpu_ms']:>11.1f}"
        )
    ratio = results["naive"]["cpu_ms"] / results["ours"]["cpu_ms"]
    print(f"server CPU per stroke, naive / ours: {ratio:.1f}x")


if __name__ == "__main__":
    main()
