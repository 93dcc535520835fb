"""Exposure: what the server hands out, what it unpickles, where it listens, and what
its error messages reveal.
"""

from __future__ import annotations

import re
import socket
import sqlite3
import subprocess
import time
import urllib.parse
from contextlib import closing
from pathlib import Path

import httpx
import pytest

import app
from tests.conftest import ROOT
from tests.serving import copy_store, running_app

SECRET = "SECRET-CORRECTION-ROW"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exposure")
    store = copy_store(folder / "store")
    data = folder / "data"
    data.mkdir()
    database = data / "feedback.sqlite3"
    with closing(sqlite3.connect(database)) as connection:
        connection.execute("CREATE TABLE corrections (note TEXT)")
        connection.execute("INSERT INTO corrections VALUES (?)", (SECRET,))
        connection.commit()
    with running_app(store, folder, {"DIGIT_SKETCHPAD_DATA": str(data)}) as running:
        running.store = store
        running.database = database
        yield running


# Code: safe loading, no pickle.


def python_sources() -> list[Path]:
    return sorted(
        path
        for path in ROOT.rglob("*.py")
        if not {".git", ".venv", "tests"} & set(path.relative_to(ROOT).parts)
    )


def test_models_load_in_safe_mode_and_nothing_is_unpickled():
    sources = {path: path.read_text() for path in python_sources()}
    loads = [
        (path.name, line.strip())
        for path, text in sources.items()
        for line in text.splitlines()
        if "load_model(" in line
    ]
    assert loads and all("safe_mode=True" in line for _, line in loads), loads
    for path, text in sources.items():
        assert not re.search(
            r"^\s*(import|from)\s+(c?pickle|dill|joblib)\b", text, re.M
        )
        assert "pickle.load" not in text and "torch.load" not in text, path
        for call in re.findall(r"np\.load\([^)]*\)", text):
            assert "allow_pickle=False" in call, (path.name, call)


# Files the server hands out.

REPOSITORY_FILES = [
    "model_store/models/current",
    "app.py",
    "README.md",
    ".git/config",
]


def forbidden_paths(live) -> dict[str, bytes]:
    """Each path the server must not serve, with bytes that would prove it did."""
    keras = next(live.store.glob("*.keras"))
    committed = next((ROOT / "model_store" / "models").glob("*.keras"))
    paths = {
        str(ROOT / "model_store" / "models" / "current"): b"mlp-",
        str(committed): b"PK\x03\x04",
        str(keras): b"PK\x03\x04",
        str(live.store / "current"): b"mlp-",
        str(live.database): b"SQLite format 3",
        str(ROOT / ".git" / "config"): b"[core]",
        "/etc/passwd": b"root:",
        str(ROOT / "app.py"): b"import gradio",
        str(ROOT / "README.md"): b"# Digit Sketchpad",
    }
    for relative in REPOSITORY_FILES:
        paths[relative] = Path(ROOT / relative).read_bytes()[:12]
    return paths


def spellings(path: str) -> list[str]:
    bare = path.lstrip("/")
    return [
        path,
        urllib.parse.quote(path, safe=""),
        "../" * 8 + bare,
        "..%2F" * 8 + urllib.parse.quote(bare, safe=""),
        "%2e%2e/" * 8 + bare,
        "examples/" + "../" * 8 + bare,
        str(app.EXAMPLES_DIR) + "/../" + bare if not path.startswith("/") else path,
    ]


ROUTES = ["/gradio_api/file=", "/file=", "/gradio_api/file/", "/static/", "/assets/"]


def test_no_file_route_serves_the_store_the_database_git_or_the_system(live):
    served = []
    with httpx.Client(base_url=live.url, timeout=10) as client:
        for path, proof in forbidden_paths(live).items():
            for route in ROUTES:
                for spelling in spellings(path):
                    response = client.get(route + spelling)
                    if response.status_code not in (403, 404, 405) or (
                        proof in response.content
                    ):
                        served.append((route + spelling, response.status_code))
    assert served == []


def test_the_examples_are_served_from_gradios_cache_as_the_page_links_them(live):
    config = httpx.get(f"{live.url}config", timeout=10).text
    links = set(re.findall(r'"url": ?"([^"]*/mnist-test-[^"]*\.png)"', config))
    assert len(links) == len(app.example_paths())
    for link in links:
        response = httpx.get(link, timeout=10)
        assert response.status_code == 200
        name = link.rsplit("/", 1)[1]
        assert response.content == (app.EXAMPLES_DIR / name).read_bytes()


def test_a_request_cannot_name_a_server_file_as_its_drawing(live):
    """A FileData path the client did not upload is refused, not read."""
    drawing = {
        "background": {
            "path": str(live.database),
            "meta": {"_type": "gradio.FileData"},
        },
        "layers": [],
        "composite": None,
    }
    with httpx.Client(base_url=live.url, timeout=20) as client:
        event = client.post(
            "/gradio_api/call/predict", json={"data": [drawing, "current"]}
        ).json()["event_id"]
        stream = client.get(f"/gradio_api/call/predict/{event}").text
    assert "event: error" in stream
    assert SECRET not in stream and "SQLite" not in stream


# Uploads.


def test_uploads_over_five_megabytes_are_refused_and_small_ones_accepted(
    live, tmp_path
):
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG" + bytes(6 * 1024 * 1024))
    with httpx.Client(base_url=live.url, timeout=30) as client:
        response = client.post(
            "/gradio_api/upload", files={"files": ("big.png", big.read_bytes())}
        )
        assert response.status_code == 413
        assert response.text == (
            "File size exceeded maximum allowed size of 5242880 bytes."
        )
        small = Path(app.example_paths()[0]).read_bytes()
        response = client.post(
            "/gradio_api/upload", files={"files": ("small.png", small)}
        )
        assert response.status_code == 200
        # Each file under the limit, but more than two files' worth in one request.
        three = b"\x89PNG" + bytes(3 * 1024 * 1024)
        response = client.post(
            "/gradio_api/upload",
            files=[("files", (f"{name}.png", three)) for name in "abcd"],
        )
        assert (response.status_code, response.text) == (413, "Content Too Large")


def test_old_uploads_are_deleted_and_the_examples_kept(tmp_path):
    cache = tmp_path / "cache"
    settings = {"DIGIT_UPLOAD_MAX_AGE": "2", "GRADIO_TEMP_DIR": str(cache)}
    with (
        running_app(copy_store(tmp_path / "store"), tmp_path, settings) as running,
        httpx.Client(base_url=running.url, timeout=30) as client,
    ):
        drawing = Path(app.example_paths()[0]).read_bytes()[::-1]
        (path,) = client.post(
            "/gradio_api/upload", files={"files": ("drawing.png", drawing)}
        ).json()
        assert Path(path).read_bytes() == drawing
        assert Path(path).is_relative_to(cache)
        served = client.get(f"/gradio_api/file={path}")
        assert (served.status_code, served.content) == (200, drawing)
        deadline = time.monotonic() + 20
        while Path(path).exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not Path(path).exists()
        assert client.get(f"/gradio_api/file={path}").status_code == 403
        config = client.get("/config").text
        links = set(re.findall(r'"url": ?"([^"]*/mnist-test-[^"]*\.png)"', config))
        assert len(links) == len(app.example_paths())
        assert all(client.get(link).status_code == 200 for link in links)


def test_the_client_is_told_the_upload_limit(live, tmp_path):
    from gradio_client import Client, handle_file

    big = tmp_path / "big.png"
    big.write_bytes(bytes(6 * 1024 * 1024))
    client = Client(live.url, verbose=False)
    with pytest.raises(ValueError, match="exceeds the maximum file size of 5242880"):
        client.predict(handle_file(str(big)), api_name="/probabilities")


# Where the server listens.


def test_the_server_binds_to_loopback_and_makes_no_share_link(live, monkeypatch):
    for name in ("PORT", "GRADIO_SERVER_PORT", "GRADIO_SERVER_NAME"):
        monkeypatch.delenv(name, raising=False)
    assert app.server_settings()["server_name"] == "127.0.0.1"
    assert "share=False" in Path(app.__file__).read_text()
    log = live.log()
    assert "Running on local URL:  http://127.0.0.1:" in log
    assert "public URL" not in log and "gradio.live" not in log


def other_local_addresses() -> list[str]:
    try:
        output = subprocess.run(
            ["hostname", "-I"], capture_output=True, text=True, timeout=5
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [address for address in output.split() if re.fullmatch(r"[\d.]+", address)]


def test_the_running_app_is_not_reachable_on_other_local_addresses(live):
    addresses = [a for a in other_local_addresses() if not a.startswith("127.")]
    if not addresses:
        pytest.skip("this machine has no address besides loopback")
    port = int(live.url.rsplit(":", 1)[1].rstrip("/"))
    for address in addresses:
        with socket.socket() as probe:
            probe.settimeout(2)
            assert probe.connect_ex((address, port)) != 0, address


# Messages.


def test_errors_shown_to_users_carry_no_internal_paths(live, tmp_path):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    notes = tmp_path / "notes.png"
    notes.write_text("this is text, not a picture")
    client = Client(live.url, verbose=False)
    messages = []
    with pytest.raises(AppError) as caught:
        client.predict(handle_file(str(notes)), api_name="/probabilities")
    messages.append(str(caught.value))
    drawing = {"background": None, "layers": [], "composite": handle_file(str(notes))}
    with pytest.raises(AppError) as caught:
        client.predict(drawing, "current", api_name="/predict")
    messages.append(str(caught.value))
    for message in messages:
        assert "notes.png" in message or "not an image" in message
        for internal in ("/tmp", str(ROOT), "gradio/", "Traceback", str(tmp_path)):
            assert internal not in message, message
