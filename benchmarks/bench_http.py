"""One drawing through HTTP on loopback, until its answer comes back: ours against the
naive app (benchmarks/naive_app.py), alternating in one run.

Run from the repository root:

    python benchmarks/bench_http.py [--rounds 100]

Both apps are started as a user would start them, on free loopback ports. Each request
is what a browser tab sends for one stroke (see queue_api.py): the three 800x800 PNGs of
the Sketchpad sent ahead and uploaded, then the page's event: ours, the ``predict``
event with the model choice "current", one POST outside the queue answered in its
reply; naive, the Interface's live event joined in Gradio's queue and its stream read
until ``process_completed``. Requests go one at a time, ours and naive in turn, each
app with its own session. Prints p50 and p99 in
milliseconds and the ratio of the medians (goal: ours at most half the naive time).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time

from queue_api import drawing_pngs, open_client, running, submit

GOAL_RATIO = 0.5


async def measure(endpoints: dict, rounds: int, warmup: int) -> dict[str, list[float]]:
    files = drawing_pngs()
    times: dict[str, list[float]] = {name: [] for name in endpoints}
    async with open_client(4, 60) as client:
        for round_index in range(warmup + rounds):
            for name, endpoint in endpoints.items():
                start = time.perf_counter()
                answer = await submit(client, endpoint, files, session_hash="tab")
                elapsed = (answer.at - start) * 1e3
                if round_index >= warmup:
                    times[name].append(elapsed)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100, help="requests per app")
    parser.add_argument("--warmup", type=int, default=5, help="untimed first requests")
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        endpoints = {
            name: stack.enter_context(running(name)) for name in ("ours", "naive")
        }
        times = asyncio.run(measure(endpoints, args.rounds, args.warmup))

    print(f"one 800x800 drawing, images + event, {args.rounds} rounds each")
    print(f"{'app':<8}{'p50 ms':>9}{'p99 ms':>9}")
    medians = {}
    for name, values in times.items():
        medians[name] = statistics.median(values)
        p99 = statistics.quantiles(values, n=100)[98]
        print(f"{name:<8}{medians[name]:>9.1f}{p99:>9.1f}")
    ratio = medians["ours"] / medians["naive"]
    print(f"ours / naive p50: {ratio:.2f} (goal <= {GOAL_RATIO})")


if __name__ == "__main__":
    main()
