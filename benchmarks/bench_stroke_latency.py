"""Time from lifting the pen to the answer on the page, against a default Sketchpad.

Run from the repository root (needs Debian's ``chromium`` and Playwright, as the
browser tests do):

    python benchmarks/bench_stroke_latency.py [--digits 20]

Starts ``app.py``, ``benchmarks/previous_path_app.py`` (the app without its fast path,
as it was before) and ``benchmarks/default_sketchpad_app.py`` (the same handler behind
``gr.Sketchpad()`` with defaults), opens each in headless Chromium, and draws the same
digits on all three, rotating which page goes first. Each drawing starts on a cleared
canvas and is one stroke.

On ``app.py`` two answers follow the stroke: the fast path's (``fast_path.py``: the
pen's points drawn on a small canvas) and then the Sketchpad's own. Its p50 is the fast
one: the first answer for the whole stroke, that is the first change of the answer no
earlier than the result of the fast-path request sent at pen-up (an answer sent while
the pen was down and arriving late does not count). "final" is when the Sketchpad's
own result arrives, and the benchmark counts how often the two answers name the same
digit.

The clock runs inside the page (``performance.now()``): from the ``pointerup`` of the
stroke to the moment ``#prediction .answer`` changes (a MutationObserver), and to the
next animation frame after it, when the answer is painted. Playwright's own round trips
are not in the figures. The page's requests are timed by wrapping ``fetch``, which
splits the wait into:

- encode: pen up until the first image leaves (the Sketchpad's 30 ms pause, then
  reading the canvas back and encoding background, layers and composite as PNG);
- upload: the images posted to the server (``component_server``), until the last reply;
- join: the event posted to the queue (``queue/join``), until its reply;
- result: until the result message arrives on the event stream (queue, decoding the
  images, the handler, encoding the outputs);
- render: until the answer is in the page, and painted.

The default page needs the brush clicked after every Clear; ours must not, and the
benchmark checks that by drawing on it without touching any tool.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.serving import (  # noqa: E402
    chromium_page,
    copy_store,
    draw,
    running_app,
)

PREVIOUS_APP = "benchmarks/previous_path_app.py"
DEFAULT_APP = "benchmarks/default_sketchpad_app.py"
DEFAULT_CANVAS_SIDE = 800  # gr.Sketchpad()'s canvas when canvas_size is not given.
ANSWER_TIMEOUT_MS = 30_000
PHASES = ("encode", "upload", "join", "result", "render", "paint")

# One-stroke digits in [0, 1] coordinates of the drawing surface.
STROKES = {
    "1": [[(0.5, 0.15), (0.5, 0.85)]],
    "7": [[(0.25, 0.2), (0.75, 0.2), (0.4, 0.85)]],
    "2": [[(0.3, 0.3), (0.5, 0.15), (0.7, 0.3), (0.3, 0.85), (0.75, 0.85)]],
    "4": [[(0.6, 0.85), (0.6, 0.15), (0.2, 0.6), (0.8, 0.6)]],
    "0": [
        [
            (0.5, 0.15), (0.72, 0.3), (0.72, 0.7), (0.5, 0.85), (0.28, 0.7),
            (0.28, 0.3), (0.5, 0.15),
        ]
    ],
}  # fmt: skip

# Runs in every page before Gradio: marks pen-up, watches the answer, times requests.
PROBE_JS = """
(() => {
  const probe = { up: null, answer: null, paint: null, baseline: null,
                  requests: [], messages: [], changes: [] };
  window.__stroke = probe;
  const now = () => performance.now();
  const answerHtml = () => {
    const answer = document.querySelector('#prediction .answer');
    return answer ? answer.outerHTML : null;
  };
  probe.arm = () => {
    Object.assign(probe, { up: null, answer: null, paint: null,
                           baseline: answerHtml(), requests: [], messages: [],
                           changes: [] });
  };
  const answerText = () => {
    const answer = document.querySelector('#prediction .answer');
    return answer ? answer.innerText : null;
  };
  window.addEventListener('pointerup', () => { probe.up = now(); }, true);
  new MutationObserver(() => {
    if (probe.up === null) return;
    const html = answerHtml();
    const last = probe.changes[probe.changes.length - 1];
    if (html !== (last ? last.html : probe.baseline))
      probe.changes.push({ t: now(), html, text: answerText() });
    if (probe.answer !== null) return;
    if (html === probe.baseline) return;
    probe.answer = now();
    requestAnimationFrame(() => { probe.paint = now(); });
  }).observe(document, { subtree: true, childList: true, characterData: true,
                         attributes: true });
  const size = body => {
    if (!body) return 0;
    if (typeof body === 'string') return body.length;
    if (body instanceof FormData) {
      let total = 0;
      for (const [, value] of body) total += value.size ?? String(value).length;
      return total;
    }
    return body.size ?? body.byteLength ?? 0;
  };
  const originalFetch = window.fetch.bind(window);
  window.fetch = async (input, init) => {
    const url = typeof input === 'string' ? input : (input.url ?? String(input));
    const body = init && typeof init.body === 'string' ? init.body : '';
    // Which event a queued request is for: the fast path sends a data URI, the
    // Sketchpad the id of the images it sent ahead, or its file paths.
    const kind = body.includes('"data:image/png;base64,') ? 'fast'
      : body.startsWith('{"data":[{"id":') || body.includes('"composite"')
        ? 'sketchpad' : 'other';
    const record = { url, start: now(), end: null, bytes: size(init && init.body),
                     kind, event_id: null };
    probe.requests.push(record);
    const response = await originalFetch(input, init);
    record.end = now();
    if (url.includes('/queue/join')) {
      response.clone().json().then(reply => { record.event_id = reply.event_id; },
                                   () => {});
    }
    if (!url.includes('/queue/data') || !response.body) return response;
    // The event stream stays open; note when each message arrives, and for which event.
    const [mine, theirs] = response.body.tee();
    (async () => {
      const reader = mine.getReader();
      const decoder = new TextDecoder();
      let pending = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const text = decoder.decode(value, { stream: true });
        const t = now();
        probe.messages.push({ t, completed: text.includes('process_completed') });
        pending += text;
        const parts = pending.split('\\n\\n');
        pending = parts.pop();
        for (const part of parts) {
          const line = part.split('\\n').find(l => l.startsWith('data:'));
          if (!line) continue;
          try {
            const message = JSON.parse(line.slice(5));
            if (message.msg === 'process_completed')
              probe.messages.push({ t, completed: true, event_id: message.event_id });
          } catch (error) { /* Not JSON: a heartbeat. */ }
        }
      }
    })();
    return new Response(theirs, { status: response.status,
                                  statusText: response.statusText,
                                  headers: response.headers });
  };
})();
"""

# What one stroke cost, as offsets in ms from pen-up, read from the probe.
COLLECT_JS = """() => {
  const p = window.__stroke;
  const after = p.requests.filter(r => r.start >= p.up);
  const span = (part) => after.filter(r => r.url.includes(part));
  const blobs = span('/component_server');
  const join = span('/queue/join')[0] || span('/run/')[0] || null;
  const done = p.messages.find(m => m.completed && m.t >= p.up);
  return {
    total: p.answer - p.up,
    paint: p.paint === null ? null : p.paint - p.up,
    blobs_start: blobs.length ? Math.min(...blobs.map(r => r.start)) - p.up : null,
    blobs_end: blobs.length ? Math.max(...blobs.map(r => r.end)) - p.up : null,
    upload_bytes: blobs.reduce((sum, r) => sum + r.bytes, 0),
    uploads: blobs.length,
    join_start: join ? join.start - p.up : null,
    join_end: join ? join.end - p.up : null,
    result: done ? done.t - p.up : null,
    requests: after.map(r => r.url.replace(location.origin, '')),
  };
}"""

# For a page with the fast path: the fast answer and the Sketchpad's own, in ms from
# pen-up; null while either has not arrived.
FAST_JS = """() => {
  const p = window.__stroke;
  const completed = kind => {
    const request = p.requests.find(r => r.kind === kind && r.start >= p.up
                                         && !r.url.includes('/queue/data'));
    if (!request) return null;
    // An event outside the queue gets its result in the reply itself.
    if (request.url.includes('/run/'))
      return request.end === null ? null : { request, t: request.end };
    if (request.event_id === null) return null;
    const message = p.messages.find(m => m.event_id === request.event_id);
    return message ? { request, t: message.t } : null;
  };
  const fast = completed('fast');
  const final = completed('sketchpad');
  if (!fast || !final) return null;
  // The first answer change from a request sent after pen-up, and not before that
  // request's own result: a late answer to a mid-stroke request does not count.
  const change = p.changes.find(c => c.t >= fast.request.start);
  const fastT = change ? Math.max(change.t, fast.t) : fast.t;
  const fastText = p.changes.filter(c => c.t <= fastT).map(c => c.text).pop()
    ?? null;
  return { fast: fastT - p.up, fast_answer: fastText, final: final.t - p.up,
           fast_sent: fast.request.start - p.up, fast_result: fast.t - p.up };
}"""


@dataclass
class Page:
    name: str
    page: object
    canvas_side: int
    click_brush: bool
    fast_path: bool = False
    samples: list[dict] = field(default_factory=list)


def open_page(context, url: str):
    page = context.new_page()
    page.add_init_script(PROBE_JS)
    page.goto(url)
    page.wait_for_selector(".pixi-target canvas", timeout=60_000)
    return page


def answer_text(page) -> str:
    return page.inner_text("#prediction .answer")


def clear(page) -> None:
    """Empties the canvas and waits until the page says so."""
    if answer_text(page) == "Draw a digit":
        return
    page.click("#sketchpad button[aria-label='Clear canvas']")
    page.wait_for_function(
        "() => document.querySelector('#prediction .answer')"
        ".innerText === 'Draw a digit'",
        timeout=ANSWER_TIMEOUT_MS,
    )


def measure(target: Page, digit: str) -> dict:
    page = target.page
    page.bring_to_front()
    clear(page)
    if target.click_brush:
        page.click("#sketchpad button[aria-label='Brush']")
    page.evaluate("() => window.__stroke.arm()")
    draw(page, STROKES[digit], target.canvas_side, settle=False)
    page.wait_for_function(
        "() => window.__stroke.answer !== null", timeout=ANSWER_TIMEOUT_MS
    )
    page.wait_for_function(
        "() => window.__stroke.paint !== null", timeout=ANSWER_TIMEOUT_MS
    )
    sample = page.evaluate(COLLECT_JS)
    if target.fast_path:
        both = page.wait_for_function(FAST_JS, timeout=ANSWER_TIMEOUT_MS).json_value()
        # The final answer is in the page a frame after its result arrives.
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
        sample.update(both)
        sample["total"] = both["fast"]
        sample["paint"] = None
    sample["digit"] = digit
    sample["answer"] = answer_text(page)
    return sample


def named_digit(answer: str | None) -> str | None:
    """The digit an answer names first ("7 98% sure", "Maybe 4 (55%) or 9 (30%)")."""
    found = re.search(r"\d", answer or "")
    return found.group(0) if found else None


def phases(sample: dict) -> dict[str, float | None]:
    """Splits one stroke's total into consecutive phases, in ms."""

    def gap(later, earlier):
        if later is None or earlier is None:
            return None
        return later - earlier

    join_or_blobs = sample["join_start"]
    return {
        "encode": sample["blobs_start"],
        "upload": gap(sample["blobs_end"], sample["blobs_start"]),
        "join": gap(sample["join_end"], sample["blobs_end"] or 0.0),
        "result": gap(sample["result"], sample["join_end"]),
        "render": gap(sample["total"], sample["result"] or join_or_blobs),
        "paint": gap(sample["paint"], sample["total"]),
    }


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def report(targets: list[Page]) -> None:
    print()
    header = f"{'page':<10}{'n':>4}{'p50 ms':>9}{'p90 ms':>9}{'painted p50':>13}"
    print(header + "".join(f"{name:>9}" for name in PHASES) + f"{'upload kB':>11}")
    for target in targets:
        totals = [s["total"] for s in target.samples]
        painted = [s["paint"] for s in target.samples if s["paint"] is not None]
        split = [phases(s) for s in target.samples if not target.fast_path]
        medians = []
        for name in PHASES:
            values = [p[name] for p in split if p[name] is not None]
            medians.append(f"{statistics.median(values):9.0f}" if values else " " * 9)
        kilobytes = statistics.median(s["upload_bytes"] for s in target.samples) / 1e3
        print(
            f"{target.name:<10}{len(totals):>4}{statistics.median(totals):9.0f}"
            f"{percentile(totals, 0.9):9.0f}"
            + (f"{statistics.median(painted):13.0f}" if painted else " " * 13)
            + "".join(medians)
            + (f"{kilobytes:11.1f}" if split else "")
        )
    print("\nphases are medians of each phase, so they need not add up to p50 exactly")
    print("on the page with the fast path: the fast answer; no phases, no painted")
    for target in targets:
        right = sum(named_digit(s["answer"]) == s["digit"] for s in target.samples)
        total = len(target.samples)
        print(f"{target.name}: answered the drawn digit {right}/{total} times")
        if not target.fast_path:
            continue
        totals = [s["total"] for s in target.samples]
        finals = [s["final"] for s in target.samples]
        agree = sum(
            named_digit(s["fast_answer"]) == named_digit(s["answer"])
            for s in target.samples
        )
        print(
            f"{target.name}: fast answer p50 {statistics.median(totals):.0f} ms, "
            f"p90 {percentile(totals, 0.9):.0f} ms; "
            f"the Sketchpad's own p50 {statistics.median(finals):.0f} ms, "
            f"p90 {percentile(finals, 0.9):.0f} ms; the two name the same digit "
            f"{agree}/{total} times"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--digits", type=int, default=20, help="drawings per page")
    parser.add_argument("--json", type=Path, help="also write every sample here")
    parser.add_argument(
        "--click-brush-ours",
        action="store_true",
        help="click the brush on our page too, as on the default one",
    )
    args = parser.parse_args()
    print(f"load average at the start: {os.getloadavg()}", flush=True)

    import app

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        store = copy_store(folder / "store")
        with (
            running_app(store, folder) as ours_app,
            running_app(
                store, folder, script="benchmarks/previous_path_app.py"
            ) as previous_app,
            running_app(
                store, folder, script="benchmarks/default_sketchpad_app.py"
            ) as base_app,
            chromium_page() as first_page,
        ):
            context = first_page.context
            targets = [
                Page(
                    "ours",
                    open_page(context, ours_app.url),
                    app.CANVAS_SIDE,
                    args.click_brush_ours,
                    fast_path=True,
                ),
                Page(
                    "previous",
                    open_page(context, previous_app.url),
                    app.CANVAS_SIDE,
                    args.click_brush_ours,
                ),
                Page(
                    "default",
                    open_page(context, base_app.url),
                    DEFAULT_CANVAS_SIDE,
                    True,
                ),
            ]
            digits = list(STROKES)
            for index in range(args.digits):
                digit = digits[index % len(digits)]
                shift = index % len(targets)
                order = targets[shift:] + targets[:shift]
                for target in order:
                    sample = measure(target, digit)
                    target.samples.append(sample)
                    fast = ""
                    if target.fast_path:
                        fast = (
                            f" (sent {sample['fast_sent']:.0f}, result "
                            f"{sample['fast_result']:.0f}, final "
                            f"{sample['final']:.0f} ms)"
                        )
                    print(
                        f"{index + 1:3d} {target.name:<8} {digit}: "
                        f"{sample['total']:6.0f} ms{fast} -> {sample['answer']!r}",
                        flush=True,
                    )
    print(f"\nload average at the end: {os.getloadavg()}")
    report(targets)
    if args.json:
        args.json.write_text(
            json.dumps({t.name: t.samples for t in targets}, indent=1) + "\n"
        )


if __name__ == "__main__":
    main()
