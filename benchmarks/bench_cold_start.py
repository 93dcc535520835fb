"""Cold start: from ``python app.py`` to the first answered prediction, ours against
the naive app, alternating in one run; and where our start-up time goes.

Run from the repository root:

    python benchmarks/bench_cold_start.py [--runs 2]

Each run starts the app as a user does and polls it: the time until ``/config``
answers (listening), then until the first drawing sent through the queue API (see
queue_api.py) comes back answered. A second table times, each in a fresh Python
process, the imports and loads the app does before it listens, and a prototype of
reading the two-Dense-layer model straight from its ``.keras`` zip with json and
h5py, no Keras, checked against Keras' own output.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time

import aiohttp
from queue_api import (
    APPS,
    NAIVE_CANVAS_SIDE,
    ROOT,
    Endpoint,
    drawing_pngs,
    free_port,
    launch,
    open_client,
    submit,
)

POLL_S = 0.05

# Each snippet runs in a fresh interpreter and prints its own wall time in seconds.
STEPS = {
    "import gradio": "import gradio",
    "import app (no Keras)": "import app",
    "import keras + tensorflow": "import keras",
    "load_current() (Keras, safe mode)": (
        "import model_store; model_store.load_current()"
    ),
    "weights from zip (json + h5py)": "import zip_weights; zip_weights.load()",
}
TIMED = """
import os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
sys.path[:0] = [{root!r}, {root!r} + "/benchmarks"]
start = time.perf_counter()
{code}
print(time.perf_counter() - start)
"""


async def first_answer(url: str, api_name: str | None, files, process) -> float:
    """Seconds until an answer, polling from the moment the process was started."""
    async with open_client(4, 30) as client:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{url} exited with {process.returncode}")
            with contextlib.suppress(aiohttp.ClientError):
                async with client.get(url + "config") as config:
                    if config.status == 200:
                        break
            await asyncio.sleep(POLL_S)
        listening = time.perf_counter()
        endpoint = Endpoint.discover(url, api_name)
        answer = await submit(client, endpoint, files)
        return listening, answer.at


def cold_start(which: str) -> tuple[float, float]:
    from app import CANVAS_SIDE

    side = CANVAS_SIDE if which == "ours" else NAIVE_CANVAS_SIDE
    files = drawing_pngs(side)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with tempfile.NamedTemporaryFile(prefix=f"cold-{which}-", suffix=".log") as log:
        started = time.perf_counter()
        process = launch(APPS[which][0], port, log)
        try:
            listening, answered = asyncio.run(
                first_answer(url, APPS[which][1], files, process)
            )
        finally:
            process.terminate()
            process.wait(timeout=30)
    return listening - started, answered - started


def step_seconds(code: str) -> float:
    output = subprocess.run(
        [sys.executable, "-c", TIMED.format(root=str(ROOT), code=code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(output.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="starts of each app")
    args = parser.parse_args()

    starts: dict[str, list[tuple[float, float]]] = {"ours": [], "naive": []}
    for _ in range(args.runs):
        for which in starts:
            starts[which].append(cold_start(which))
    steps = {
        name: [step_seconds(code) for _ in range(args.runs)]
        for name, code in STEPS.items()
    }

    print(f"cold start, median of {args.runs} starts each, alternating")
    print(f"{'app':<8}{'listening s':>12}{'first answer s':>15}")
    for which, times in starts.items():
        listening = statistics.median(t[0] for t in times)
        answered = statistics.median(t[1] for t in times)
        print(f"{which:<8}{listening:>12.2f}{answered:>15.2f}")
    print(f"\n{'step, in a fresh process':<36}{'s':>6}")
    for name, values in steps.items():
        print(f"{name:<36}{statistics.median(values):>6.2f}")
    import zip_weights

    print(f"zip weights vs Keras, largest difference: {zip_weights.check():.2e}")


if __name__ == "__main__":
    main()
