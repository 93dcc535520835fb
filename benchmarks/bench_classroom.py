"""A classroom: 30 browser tabs drawing at once, ours against the naive app, one after
the other in one run.

Run from the repository root:

    python benchmarks/bench_classroom.py [--clients 30] [--period 0.2] [--duration 30]

Each client behaves like one browser tab on the page: its own ``session_hash`` and a
new stroke every ``--period`` seconds, sent exactly as the page sends it (see
queue_api.py, and bench_page_traffic.py for what a page sends), on the canvas each app
has (ours 280 px, the naive app's default Sketchpad 800 px). A stroke goes in two steps,
as in the page:

- "images": the Sketchpad's three images sent ahead and uploaded. The Sketchpad sends
  one stroke's at a time; strokes made meanwhile wait, and only the latest goes next.
- the event (the app's row): the stroke's event, naming the latest images sent, with
  the page's ``trigger_mode="always_last"``: at most one in flight, the latest next.

So a slow server sees fewer requests, not a growing pile. Each stroke also sends the
fast path's picture (fast_path.py) as the page's script does, outside the queue, in the
trigger mode the page gives it (``--no-fast-path`` leaves it out): the "fast" row.

Figures per row: requests answered per second, request latency (send to answer) p50 and
p99, the same to the end of any chained events and the uploads made meanwhile ("done"),
stroke-to-answer latency (the stroke to the end of the first request that includes it:
for the event, its answer), strokes merged into a later request, and errors. The load
generator is one asyncio loop with one aiohttp client session; its own CPU share and
the server's are printed too, since all of them share these cores. Goals: zero errors,
p99 at most 1 s, and at least three times the naive app's throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
from queue_api import (
    NAIVE_CANVAS_SIDE,
    Answer,
    Endpoint,
    drawing_pngs,
    fast_picture,
    open_client,
    running,
    send_event,
    send_images,
    submit,
    submit_fast,
)

from app import CANVAS_SIDE

GOAL_P99_S = 1.0
GOAL_THROUGHPUT_RATIO = 3.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Tally:
    request_latencies: list[float] = field(default_factory=list)
    chain_latencies: list[float] = field(default_factory=list)
    stroke_latencies: list[float] = field(default_factory=list)
    strokes: int = 0
    merged: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class Lane:
    """One tab's requests for one event, sent the way the page's trigger mode sends
    them: with ``merge`` ("always_last") at most one in flight, the latest drawing
    next; without ("multiple") each stroke's at once."""

    send: Callable[[], Awaitable[Answer]]
    tally: Tally
    merge: bool
    timeout: float
    waiting: list[float] = field(default_factory=list)  # Strokes not yet sent.
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    finished: bool = False
    flying: set[asyncio.Task] = field(default_factory=set)
    # The lane a stroke goes on to once its request here is done.
    then: Lane | None = None

    def stroke(self, at: float) -> None:
        self.tally.strokes += 1
        if self.merge:
            self.waiting.append(at)
            self.wake.set()
        else:
            task = asyncio.create_task(self.request([at]))
            self.flying.add(task)
            task.add_done_callback(self.flying.discard)

    def finish(self) -> None:
        self.finished = True
        self.wake.set()

    async def run(self) -> None:
        while self.waiting or not self.finished:
            if not self.waiting:
                # Nothing runs between the test above and clear(): no stroke is missed.
                self.wake.clear()
                await self.wake.wait()
                continue
            covered, self.waiting = self.waiting, []
            await self.request(covered)
        await asyncio.gather(*self.flying)
        if self.then is not None:
            self.then.finish()

    async def request(self, covered: list[float]) -> None:
        self.tally.merged += len(covered) - 1
        sent = time.perf_counter()
        try:
            # The stream's heartbeats keep a read alive: bound the whole request.
            answer = await asyncio.wait_for(self.send(), self.timeout)
        except (aiohttp.ClientError, RuntimeError, TimeoutError) as error:
            self.tally.errors.append(f"{type(error).__name__}: {error}"[:160])
            return
        self.tally.request_latencies.append(answer.at - sent)
        self.tally.chain_latencies.append(answer.done - sent)
        self.tally.stroke_latencies.extend(answer.at - stroke for stroke in covered)
        for stroke in covered if self.then is not None else ():
            self.then.stroke(stroke)


async def tab(lanes: list[Lane], start_delay: float, period: float, stop_at: float):
    """One browser tab: a stroke per period, sent down every lane (and on to the
    lanes they lead to)."""
    every = [*lanes, *(lane.then for lane in lanes if lane.then is not None)]

    async def draw() -> None:
        await asyncio.sleep(start_delay)
        while time.perf_counter() < stop_at:
            now = time.perf_counter()
            for lane in lanes:
                lane.stroke(now)
            await asyncio.sleep(period)
        for lane in lanes:
            lane.finish()

    await asyncio.gather(draw(), *(lane.run() for lane in every))


async def keep_images(client, endpoint, files, session_hash, latest: dict) -> Answer:
    """A stroke's images sent, and the value naming them kept for its event."""
    latest["drawing"] = await send_images(client, endpoint, files, session_hash)
    now = time.perf_counter()
    return Answer([], now, now)


async def send_latest(client, endpoint, files, session_hash, latest: dict) -> Answer:
    """The stroke's event, for the latest drawing whose images were sent."""
    return await send_event(client, endpoint, files, latest["drawing"], session_hash)


def server_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def classroom(endpoint: Endpoint, side: int, args) -> dict:
    files = drawing_pngs(side)
    picture = fast_picture()
    tally, images_tally, fast_tally = Tally(), Tally(), Tally()
    async with open_client(4 * args.clients, args.timeout) as client:
        await submit(client, endpoint, files)  # Warm-up.
        cpu_start, server_start = time.process_time(), server_cpu_seconds(endpoint.pid)
        started = time.perf_counter()
        tabs = []
        for index in range(args.clients):
            name = f"tab-{index:02d}-{os.getpid()}"
            # The Sketchpad sends one stroke's images at a time, the latest next;
            # the event then names the latest sent.
            latest: dict = {}
            event = Lane(
                functools.partial(send_latest, client, endpoint, files, name, latest),
                tally,
                merge=True,
                timeout=args.timeout,
            )
            images = Lane(
                functools.partial(keep_images, client, endpoint, files, name, latest),
                images_tally,
                merge=True,
                timeout=args.timeout,
                then=event,
            )
            lanes = [images]
            if endpoint.fast is not None and not args.no_fast_path:
                lanes.append(
                    Lane(
                        functools.partial(submit_fast, client, endpoint, picture, name),
                        fast_tally,
                        merge=endpoint.fast_trigger_mode == "always_last",
                        timeout=args.timeout,
                    )
                )
            tabs.append(
                tab(
                    lanes,
                    # Tabs start spread over one period: students do not draw in step.
                    args.period * index / args.clients,
                    args.period,
                    started + args.duration,
                )
            )
        await asyncio.gather(*tabs)
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_start
        server = server_cpu_seconds(endpoint.pid) - server_start
    return {
        "tally": tally,
        "images": images_tally,
        "fast": fast_tally,
        "wall": wall,
        "generator_cpu": cpu,
        "server_cpu": server,
    }


def quantile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100)[q - 1]


def print_row(name: str, side: int, tally: Tally, wall: float, cpu: str) -> None:
    if not tally.request_latencies:
        print(f"{name:<12}{side:>7}  no answers; {len(tally.errors)} errors")
    else:
        print(
            f"{name:<12}{side:>7}{len(tally.request_latencies) / wall:>10.1f}"
            f"{statistics.median(tally.request_latencies):>9.3f}"
            f"{quantile(tally.request_latencies, 99):>7.3f}"
            f"{quantile(tally.chain_latencies, 99):>9.3f}"
            f"{statistics.median(tally.stroke_latencies):>11.3f}"
            f"{quantile(tally.stroke_latencies, 99):>7.3f}"
            f"{tally.merged / max(tally.strokes, 1):>8.0%}{len(tally.errors):>7}{cpu}"
        )
    for error in sorted(set(tally.errors))[:3]:
        print(f"  {name} error: {error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=30, help="browser tabs")
    parser.add_argument("--period", type=float, default=0.2, help="s between strokes")
    parser.add_argument("--duration", type=float, default=30.0, help="s of drawing")
    parser.add_argument("--timeout", type=float, default=30.0, help="s per request")
    parser.add_argument(
        "--same-canvas",
        action="store_true",
        help=f"send ours the naive app's {NAIVE_CANVAS_SIDE} px drawing too",
    )
    parser.add_argument(
        "--apps", nargs="+", default=["ours", "naive"], help="which apps, in order"
    )
    parser.add_argument(
        "--no-fast-path",
        action="store_true",
        help="send the Sketchpad's event only, not the fast path's pictures too",
    )
    args = parser.parse_args()

    sides = {
        "ours": NAIVE_CANVAS_SIDE if args.same_canvas else CANVAS_SIDE,
        "naive": NAIVE_CANVAS_SIDE,
    }
    results = {}
    with contextlib.ExitStack() as stack:
        endpoints = {name: stack.enter_context(running(name)) for name in args.apps}
        for name, endpoint in endpoints.items():
            results[name] = asyncio.run(classroom(endpoint, sides[name], args))

    print(
        f"{args.clients} tabs, a drawing every {args.period * 1e3:.0f} ms each for "
        f"{args.duration:.0f} s; {os.cpu_count()} cores"
    )
    print(
        f"{'app':<12}{'canvas':>7}{'answers/s':>10}{'req p50':>9}{'p99':>7}"
        f"{'done p99':>9}{'stroke p50':>11}{'p99':>7}{'merged':>8}{'errors':>7}"
        f"{'gen CPU':>8}{'server CPU':>11}"
    )
    for name, result in results.items():
        wall = result["wall"]
        result["throughput"] = len(result["tally"].request_latencies) / wall
        cpu = (
            f"{result['generator_cpu'] / wall:>8.0%}"
            f"{result['server_cpu'] / wall:>11.0%}"
        )
        print_row(name, sides[name], result["tally"], wall, cpu)
        print_row(f"{name}, images", sides[name], result["images"], wall, "")
        if result["fast"].strokes:
            print_row(f"{name}, fast", 140, result["fast"], wall, "")
    print(
        "latencies in s; merged = strokes answered by a later request (always_last); "
        "CPU as a share of one core"
    )
    if {"ours", "naive"} <= results.keys():
        ratio = results["ours"]["throughput"] / results["naive"]["throughput"]
        print(
            f"throughput ours / naive: {ratio:.1f}x (goal >= {GOAL_THROUGHPUT_RATIO}x,"
            f" ours p99 <= {GOAL_P99_S} s, no errors)"
        )


if __name__ == "__main__":
    main()
