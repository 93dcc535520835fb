"""What the benchmarks share: starting the two apps, and Gradio's HTTP API as a browser
uses it, in plain async HTTP.

Not run by itself. `submit` sends a stroke's drawing as a browser tab does, which
``bench_page_traffic.py`` counts in Chromium: the Sketchpad's three PNGs (background,
layer, composite) each POSTed to its server function (``/gradio_api/component_server``,
``accept_blobs``) under an id of the drawing's; the same three uploaded one by one
(``/gradio_api/upload``), which the page does whenever it reads the Sketchpad's value;
then the event, with the tab's ``session_hash`` and the drawing as ``{"id": ...}``.
An event in the queue is a POST to ``/gradio_api/queue/join`` and a GET of
``/gradio_api/queue/data?session_hash=``, a server-sent-event stream, until its
``process_completed`` message (gradio/routes.py, gradio/queueing.py); one outside it
is a POST to ``/gradio_api/run/predict`` answered in its reply. The naive page reads
the Sketchpad again on its event's status messages, so its uploads go on while the
event runs (`PAGE_UPLOADS`). Events chained to it with ``.then`` follow the same way,
one after the other, as the page runs them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import aiohttp
import httpx
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_preprocess import sketchpad_value  # noqa: E402

from tests.serving import stop  # noqa: E402

START_TIMEOUT_S = 180
# The canvas a default gr.Sketchpad has, the naive app's; ours is app.CANVAS_SIDE.
NAIVE_CANVAS_SIDE = 800
# The hidden textbox the page's fast-path script fills (app.py).
FAST_FIELD_ID = "fast-drawing"
# The Sketchpad's images each page uploads per stroke, as bench_page_traffic.py
# measured in Chromium: ours reads its value once, when it copies it (app.py,
# COPY_VALUE_JS); the naive page again on each status message of its event.
PAGE_UPLOADS = {"ours": 3, "naive": 21}
DRAWING_PARTS = (("background", None), ("layer", 0), ("composite", None))


class EventFailed(RuntimeError):
    """The queue answered, but not with a completed, successful event."""


def drawing_pngs(side: int = NAIVE_CANVAS_SIDE) -> list[tuple[str, bytes]]:
    """The test drawing (a "2") on a ``side`` canvas, as the three PNGs a browser
    uploads: opaque white background, transparent layer with black ink, composite."""
    value = sketchpad_value()
    images = [value["background"], value["layers"][0], value["composite"]]
    files = []
    for name, pixels in zip(("background", "layer", "composite"), images, strict=True):
        image = Image.fromarray(pixels)
        if side != image.width:
            image = image.resize((side, side), Image.Resampling.NEAREST)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        files.append((f"{name}.png", buffer.getvalue()))
    return files


def fn_index_of(config: dict, api_name: str | None = None) -> int:
    """The dependency id of the event named ``api_name``, or of the only live event
    of an Interface (its input's ``change``) when ``api_name`` is None."""
    for dependency in config["dependencies"]:
        if api_name is not None and dependency.get("api_name") == api_name:
            return dependency["id"]
        if api_name is None and any(
            event == "change" for _, event in dependency.get("targets", [])
        ):
            return dependency["id"]
    raise KeyError(f"no event {api_name or 'change'} in the app's config")


class Answer(NamedTuple):
    data: list
    at: float  # time.perf_counter() when the answer arrived.
    done: float  # ... and when the events chained to it had finished too.


class Event(NamedTuple):
    """One event as the page sends it: its id, its inputs' values as the page starts
    them, with None where the drawing goes, and whether it goes through the queue."""

    fn_index: int
    inputs: tuple
    queued: bool = True


@dataclass(frozen=True)
class Endpoint:
    """One app's predict event and the events chained to it: where they are and what
    they take."""

    url: str
    fn_index: int
    inputs: tuple = ()
    queued: bool = True
    pid: int | None = None  # The server's process, for its CPU time.
    chain: tuple[Event, ...] = ()
    # The page's fast path (fast_path.py), outside the queue, and its trigger mode.
    fast: Event | None = None
    fast_trigger_mode: str | None = None
    # The Sketchpad the images go ahead to, and how many uploads a stroke brings.
    sketchpad: int | None = None
    uploads: int = 3

    @classmethod
    def discover(
        cls, url: str, api_name: str | None, pid: int | None = None, uploads: int = 3
    ) -> Endpoint:
        config = httpx.get(url + "config", timeout=30).json()
        fn_index = fn_index_of(config, api_name)
        dependencies = {d["id"]: d for d in config["dependencies"]}
        dependency = dependencies[fn_index]
        defaults = {
            component["id"]: component.get("props", {}).get("value")
            for component in config["components"]
        }

        def event(dependency: dict) -> Event:
            drawing_block = dependency["inputs"][0]
            return Event(
                dependency["id"],
                tuple(
                    None if block == drawing_block else defaults.get(block)
                    for block in dependency["inputs"]
                ),
                dependency.get("queue") is not False,
            )

        chain, last = [], fn_index
        while then := [d for d in dependencies.values() if d["trigger_after"] == last]:
            chain.append(event(then[0]))
            last = then[0]["id"]
        fast = fast_mode = None
        field = next(
            (
                component["id"]
                for component in config["components"]
                if component.get("props", {}).get("elem_id") == FAST_FIELD_ID
            ),
            None,
        )
        for candidate in dependencies.values():
            if field is not None and [field, "input"] in candidate["targets"]:
                fast, fast_mode = event(candidate), candidate["trigger_mode"]
        first = event(dependency)
        (sketchpad,) = [
            component["id"]
            for component in config["components"]
            if component["type"] == "imageeditor"
        ]
        return cls(
            url,
            fn_index,
            first.inputs,
            first.queued,
            pid,
            tuple(chain),
            fast,
            fast_mode,
            sketchpad,
            uploads,
        )


async def submit(
    client: aiohttp.ClientSession,
    endpoint: Endpoint,
    files: list[tuple[str, bytes]],
    session_hash: str | None = None,
) -> Answer:
    """One stroke as the page sends it (see the module's docstring): `send_images`,
    then `send_event`."""
    session_hash = session_hash or uuid.uuid4().hex[:11]
    drawing = await send_images(client, endpoint, files, session_hash)
    return await send_event(client, endpoint, files, drawing, session_hash)


async def send_images(
    client: aiohttp.ClientSession,
    endpoint: Endpoint,
    files: list[tuple[str, bytes]],
    session_hash: str,
) -> dict:
    """What the page sends when a stroke ends: the Sketchpad's images, ahead to its
    server function, then uploaded as the page reads its value. Returns the value
    the stroke's event takes, naming the images sent ahead."""
    base = endpoint.url + "gradio_api"
    drawing = {"id": uuid.uuid4().hex[:11]}
    await asyncio.gather(
        *(
            send_blob(client, base, endpoint, session_hash, drawing["id"], part, file)
            for part, file in zip(DRAWING_PARTS, files, strict=True)
        )
    )
    await upload_one_by_one(client, base, files)
    return drawing


async def send_event(
    client: aiohttp.ClientSession,
    endpoint: Endpoint,
    files: list[tuple[str, bytes]],
    drawing: dict,
    session_hash: str,
) -> Answer:
    """The stroke's event and any chained to it, with the uploads a page makes while
    they run; returns the first event's output, when it came, and when the rest of
    the stroke's requests were done."""
    base = endpoint.url + "gradio_api"
    rounds = max(1, endpoint.uploads // len(files)) - 1
    later = asyncio.create_task(upload_one_by_one(client, base, files, rounds))
    try:
        first = Event(endpoint.fn_index, endpoint.inputs, endpoint.queued)
        answer = await run_event(client, base, first, drawing, session_hash)
        for event in endpoint.chain:
            await run_event(client, base, event, drawing, session_hash)
    finally:
        await later
    return answer._replace(done=time.perf_counter())


async def send_blob(client, base, endpoint, session_hash, drawing_id, part, file):
    """One of the Sketchpad's images, sent ahead of the event that names it."""
    (kind, index), (name, data) = part, file
    fields = {
        "id": drawing_id,
        "type": kind,
        "index": "null" if index is None else str(index),
        "component_id": str(endpoint.sketchpad),
        "fn_name": "accept_blobs",
        "session_hash": session_hash,
    }
    form = aiohttp.FormData(fields)
    form.add_field("file", data, filename=name, content_type="image/png")
    async with client.post(base + "/component_server/", data=form) as response:
        response.raise_for_status()


async def upload_one_by_one(client, base, files, rounds: int = 1) -> None:
    """The images uploaded as the page does when it reads the Sketchpad's value:
    three requests of one file each, ``rounds`` times in turn."""

    async def upload(name: str, data: bytes) -> None:
        form = aiohttp.FormData()
        form.add_field("files", data, filename=name, content_type="image/png")
        async with client.post(base + "/upload", data=form) as response:
            response.raise_for_status()

    for _ in range(rounds):
        await asyncio.gather(*(upload(name, data) for name, data in files))


async def run_event(
    client: aiohttp.ClientSession,
    base: str,
    event: Event,
    drawing: dict,
    session_hash: str,
) -> Answer:
    """Sends ``event`` with the drawing in its place: joins the queue and reads the
    stream, or for an event outside the queue one POST answered in its response."""
    data = [drawing if value is None else value for value in event.inputs]
    body = {
        "data": data,
        "event_data": None,
        "fn_index": event.fn_index,
        "session_hash": session_hash,
        "trigger_id": None,
    }
    if not event.queued:
        return await run_direct(client, base, body)
    async with client.post(base + "/queue/join", json=body) as joined:
        joined.raise_for_status()
    # Like the page, read the stream to its end (the server closes it once the tab
    # has no event pending) rather than hanging up at the answer: a stream dropped
    # early makes the server clean up the session, which can take the next event of
    # the same session_hash with it.
    output = None
    async with client.get(
        base + "/queue/data", params={"session_hash": session_hash}
    ) as stream:
        stream.raise_for_status()
        async for line in stream.content:
            if not line.startswith(b"data:"):
                continue
            message = json.loads(line[len(b"data:") :])
            kind = message.get("msg")
            if kind == "process_completed":
                if not message.get("success"):
                    raise EventFailed(str(message.get("output"))[:200])
                now = time.perf_counter()
                output = Answer(message["output"]["data"], now, now)
            elif kind == "unexpected_error":
                raise EventFailed(message.get("message", "unexpected error"))
            elif kind == "close_stream":
                break
    if output is None:
        raise EventFailed("stream closed before the event completed")
    return output


async def run_direct(client: aiohttp.ClientSession, base: str, body: dict) -> Answer:
    """An event outside the queue, as the page sends it: one POST, answered in its
    response."""
    async with client.post(base + "/run/predict", json=body) as response:
        if response.status != 200:
            text = await response.text()
            raise EventFailed(f"{response.status}: {text[:160]}")
        data = (await response.json())["data"]
    now = time.perf_counter()
    return Answer(data, now, now)


async def submit_fast(
    client: aiohttp.ClientSession, endpoint: Endpoint, picture: str, session_hash: str
) -> Answer:
    """Sends the fast path's picture (a PNG data URI) as the page's script does."""
    base = endpoint.url + "gradio_api"
    return await run_event(client, base, endpoint.fast, picture, session_hash)


def open_client(connections: int, timeout_s: float) -> aiohttp.ClientSession:
    """The load generator's one HTTP client: aiohttp's, which costs far less CPU per
    request than httpx's, on a loop that shares these cores with the server."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=timeout_s),
    )


def fast_picture(side: int = 140) -> str:
    """The test drawing as the fast path's script sends it: ink on a transparent
    ``side`` square, as a PNG data URI."""
    value = sketchpad_value()
    layer = Image.fromarray(value["layers"][0]).resize((side, side), Image.BILINEAR)
    buffer = io.BytesIO()
    layer.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_env(port: int) -> dict[str, str]:
    env = {
        **os.environ,
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    return env


# Each app's script and the api_name of its event (None: the Interface's live event).
APPS = {
    "ours": (["app.py"], "predict"),
    "naive": (["benchmarks/naive_app.py"], None),
}


def launch(command: list[str], port: int, log_file) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *command],
        cwd=ROOT,
        env=server_env(port),
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )


def wait_up(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "config", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not start within {START_TIMEOUT_S} s")


@contextlib.contextmanager
def running(which: str, command: list[str] | None = None) -> Iterator[Endpoint]:
    """Starts ``which`` ("ours" or "naive") on a free port; yields its predict event.

    ``command`` replaces the script's arguments, for trying a variant of an app.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with tempfile.NamedTemporaryFile(
        prefix=f"bench-{which}-", suffix=".log", delete=False
    ) as log_file:
        process = launch(command or APPS[which][0], port, log_file)
    try:
        wait_up(url, process)
        yield Endpoint.discover(url, APPS[which][1], process.pid, PAGE_UPLOADS[which])
    finally:
        stop(process)
