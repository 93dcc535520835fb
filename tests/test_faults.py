"""Faults: publishing killed midway, damaged model files, a locked or failing database.

Each test names the fault; what it pins is that the app keeps serving a whole model,
says which file is wrong, and loses nothing already saved.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import app
import mnist_format
from feedback import FeedbackStore
from model_store import current_name, list_records, load, publish, read_record
from model_store.store import CURRENT_FILE, MODEL_SUFFIX, TEMP_PREFIX, file_sha256
from tests.conftest import COMMITTED_STORE, ROOT
from tests.serving import chromium_page, copy_store, running_app

KILLS = 12


def names_in(store: Path, arch: str) -> str:
    return next(
        record["name"] for record in list_records(store) if record["arch"] == arch
    )


def example_path(digit: int) -> str:
    return next(p for p in app.example_paths() if p.endswith(f"-{digit}.png"))


def example_vector() -> np.ndarray:
    return mnist_format.to_mnist(Image.open(example_path(3))).vector


# Publishing killed at random points.

# A publisher that starts in a fraction of a second, so that a dozen real kills fit in
# a few seconds: `publish` runs unchanged, and the model it saves is the committed mlp's
# .keras file, written the way Keras writes one (in pieces, then closed).
PUBLISHER = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {root!r})
    from model_store import publish

    # DIE_AT makes the process die the way a kill would (no clean-up runs) at one
    # exact step: halfway through writing the model, or after the Nth rename.
    die_at = os.environ.get("DIE_AT", "")
    renames = []
    real_replace = os.replace

    def replace_then_die(source, target):
        real_replace(source, target)
        renames.append(target)
        if die_at == str(len(renames)):
            os._exit(9)

    os.replace = replace_then_die

    class SavedModel:
        def __init__(self, data):
            self.data = data

        def save(self, path):
            with open(path, "wb") as handle:
                for start in range(0, len(self.data), 1 << 16):
                    if die_at == "mid-save" and start > len(self.data) // 2:
                        handle.flush()
                        os._exit(9)
                    handle.write(self.data[start : start + (1 << 16)])

    model = SavedModel(open({source!r}, "rb").read())
    record = {{"arch": "mlp", "created": "2027-01-01T00:00:00+00:00"}}
    print("ready", flush=True)
    publish(model, record, sys.argv[1], {store!r})
    print("done", flush=True)
    """
)


def start_publisher(script: str, name: str, die_at: str = "") -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", script, name],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "DIE_AT": die_at},
    )
    assert process.stdout.readline().strip() == "ready"
    return process


def publish_stage(store: Path, name: str) -> str:
    """How far a killed publish of ``name`` got."""
    if current_name(store) == name:
        return "pointer moved"
    if (store / f"{name}.json").exists():
        return "record written"
    if (store / f"{name}{MODEL_SUFFIX}").exists():
        return "model renamed"
    return "writing model"


def assert_store_is_whole(store: Path, source_sha: str) -> None:
    """Current loads and matches its record; every record's file is whole; any
    other file is a complete model or a temporary that no reader opens."""
    name = current_name(store)
    stored = load(name, store)  # Checks the sha256 against the record.
    assert stored.record["file_sha256"] == file_sha256(stored.path)
    for path in store.iterdir():
        if path.name.startswith(TEMP_PREFIX) or path.name == CURRENT_FILE:
            continue
        if path.suffix == MODEL_SUFFIX and not path.stem.startswith(("seed-", "mlp-")):
            # Renamed into place only once complete, record or not.
            assert file_sha256(path) == source_sha, path.name
        if path.suffix == ".json":
            record = read_record(path.stem, store)
            assert (
                file_sha256(store / f"{path.stem}{MODEL_SUFFIX}")
                == record["file_sha256"]
            )


def test_publishing_killed_at_random_points_leaves_a_whole_model_served(tmp_path):
    store = copy_store(tmp_path / "store")
    seed, mlp = names_in(store, "seed"), names_in(store, "mlp")
    (store / CURRENT_FILE).write_text(f"{seed}\n")
    source = store / f"{mlp}{MODEL_SUFFIX}"
    source_sha = file_sha256(source)
    script = PUBLISHER.format(root=str(ROOT), source=str(source), store=str(store))

    holder = app.ModelHolder(store)
    vector = example_vector()
    expected = {
        seed: holder.current().probabilities(vector),
        mlp: holder.get(mlp).probabilities(vector),
    }
    answers, errors = [], []
    stop = threading.Event()

    def keep_serving():
        while not stop.is_set():
            try:
                served = holder.current()
                answers.append(
                    (
                        served.record.get("file_sha256"),
                        served.name,
                        served.probabilities(vector),
                    )
                )
            except Exception as error:  # noqa: BLE001 - any failure fails the test.
                errors.append(error)
            time.sleep(0.002)

    server = threading.Thread(target=keep_serving)
    server.start()
    stages = []
    try:
        # The publish window, from the publisher's "ready" to its "done", measured
        # while the holder serves (and loads each model published here).
        windows = []
        for run in range(3):
            calibration = start_publisher(script, f"whole-{run}")
            started = time.perf_counter()
            assert calibration.stdout.readline().strip() == "done"
            windows.append(time.perf_counter() - started)
            calibration.wait()
        window = sorted(windows)[1]
        # First a death at each step of the publish, then kills at random moments.
        for step, stage in (
            ("mid-save", "writing model"),
            ("1", "model renamed"),
            ("2", "record written"),
            ("3", "pointer moved"),
        ):
            name = f"died-{step}"
            process = start_publisher(script, name, die_at=step)
            assert process.wait() == 9
            assert publish_stage(store, name) == stage
            assert_store_is_whole(store, source_sha)
        rng = random.Random(7)
        for kill in range(KILLS):
            # Stratified delays, one in each twelfth of 1.5 windows, so the kills land
            # all over the publish and a few after it.
            delay = 1.5 * window * (kill + rng.random()) / KILLS
            name = f"killed-{kill}"
            process = start_publisher(script, name)
            time.sleep(delay)
            process.send_signal(signal.SIGKILL)
            process.wait()
            stages.append(publish_stage(store, name))
            assert_store_is_whole(store, source_sha)
            time.sleep(0.05)
    finally:
        stop.set()
        server.join()

    print(
        f"publish window {window * 1000:.0f} ms (runs: "
        f"{', '.join(f'{w * 1000:.0f}' for w in windows)} ms); kills by stage: "
        f"{dict(Counter(stages))}; "
        f"{len(list(store.glob(TEMP_PREFIX + '*')))} stray temporaries; "
        f"{len(answers)} answers served meanwhile"
    )
    assert errors == []
    assert holder.problems == ()  # The pointer never named a broken model.
    assert stages.count("writing model") >= 1  # At least one kill hit the publish.
    for _, name, answer in answers:
        reference = expected[seed] if name == seed else expected[mlp]
        np.testing.assert_allclose(answer, reference, atol=1e-5)
    assert len(answers) > 10


# Damaged model files.


def damage(store: Path, kind: str) -> Path:
    """Damages the current model's file in one of four ways; returns the file."""
    path = store / f"{current_name(store)}{MODEL_SUFFIX}"
    if kind == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif kind == "garbage":
        path.write_bytes(os.urandom(4096))
    elif kind == "deleted":
        path.unlink()
    elif kind == "folder":
        path.unlink()
        path.mkdir()
    return path


MESSAGES = {
    "truncated": "does not match its record",
    "garbage": "does not match its record",
    "deleted": "is missing",
    "folder": "is a folder",
}


def test_at_start_up_a_truncated_current_model_is_named_in_log_and_page(tmp_path):
    store = copy_store(tmp_path / "store")
    bad = damage(store, "truncated")
    seed = names_in(store, "seed")
    with running_app(store, tmp_path) as running:
        log = running.log()
        assert f"current model unusable: model file {bad} does not match" in log
        assert f"serving {seed} instead of the current model" in log
        with chromium_page() as page:
            page.goto(running.url)
            page.wait_for_selector(".pixi-target canvas", timeout=60_000)
            page.get_by_text("The model", exact=True).click()
            page.wait_for_function(
                "() => document.querySelector('#model-info')?.innerText"
                ".includes('Skipped')",
                timeout=30_000,
            )
            info = page.inner_text("#model-info")
    assert f"Model: {seed}" in info
    assert f"Skipped: model file {bad.name} does not match its record" in info
    assert str(store) not in info  # The page names the file, not the server's folders.


@pytest.mark.parametrize("kind", ["truncated", "garbage", "deleted", "folder"])
def test_at_start_up_a_damaged_current_model_falls_back_and_is_named(tmp_path, kind):
    store = copy_store(tmp_path / "store")
    bad = damage(store, kind)
    holder = app.ModelHolder(store)  # What build_demo makes at start-up.
    assert holder.current().name == names_in(store, "seed")
    (problem,) = holder.problems
    assert problem == f"Skipped: model file {bad.name} {MESSAGES[kind]}" + (
        " (damaged or replaced)" if MESSAGES[kind].endswith("record") else ""
    )
    info = app.model_info_markdown(holder.current(), holder.problems)
    assert f"⚠️ Skipped: model file {bad.name}" in info


@pytest.mark.parametrize("pointer", ["missing", "garbage", "folder"])
def test_at_start_up_a_broken_current_pointer_falls_back_and_is_named(
    tmp_path, pointer
):
    store = copy_store(tmp_path / "store")
    (store / CURRENT_FILE).unlink()
    if pointer == "garbage":
        (store / CURRENT_FILE).write_bytes(b"../../etc/passwd\n")
    elif pointer == "folder":
        (store / CURRENT_FILE).mkdir()
    holder = app.ModelHolder(store)
    assert holder.current().name == names_in(store, "mlp")  # The newest that loads.
    (problem,) = holder.problems
    assert problem.startswith(f"Skipped: cannot read {CURRENT_FILE}") or problem == (
        f"Skipped: {CURRENT_FILE} does not name a model: invalid model name "
        "'../../etc/passwd': use letters, digits, '.', '_' and '-'"
    )


def test_at_start_up_with_no_loadable_model_the_error_lists_every_file(tmp_path):
    store = copy_store(tmp_path / "store")
    for path in store.glob(f"*{MODEL_SUFFIX}"):
        path.write_bytes(b"garbage")
    with pytest.raises(app.ModelStoreError, match="no loadable model") as caught:
        app.ModelHolder(store).current()
    for path in store.glob(f"*{MODEL_SUFFIX}"):
        assert str(path) in str(caught.value)


@pytest.mark.parametrize("kind", ["truncated", "deleted", "folder"])
def test_at_run_time_a_damaged_publish_is_refused_and_the_served_model_stays(
    tmp_path, kind
):
    # test_app covers a garbage file; these are the other kinds.
    store = copy_store(tmp_path / "store")
    holder = app.ModelHolder(store)
    served = holder.current().name
    vector = example_vector()
    before = holder.current().probabilities(vector)
    seed = load(names_in(store, "seed"), store)
    publish(seed.model, {"arch": "seed"}, "next", store, make_current=False)
    bad = damage_named(store, "next", kind)
    (store / CURRENT_FILE).write_text("next\n")
    assert holder.current().name == served
    np.testing.assert_allclose(holder.current().probabilities(vector), before)
    (problem,) = holder.problems
    assert problem.startswith(f"New model refused: model file {bad.name} ")
    assert str(store) not in problem
    # The pointer settles on a good model again: it is served at once.
    (store / CURRENT_FILE).write_text(f"{seed.name}\n")
    assert holder.current().name == seed.name and holder.problems == ()


def damage_named(store: Path, name: str, kind: str) -> Path:
    pointer = store / CURRENT_FILE
    real = pointer.read_text()
    pointer.write_text(f"{name}\n")
    try:
        return damage(store, kind)
    finally:
        pointer.write_text(real)


# The feedback database.


def saved_rows(store: FeedbackStore) -> list[tuple]:
    return [(c.id, c.label, c.predicted, c.image.tobytes()) for c in store.recent(100)]


def digit_image(value: float) -> np.ndarray:
    image = np.zeros((28, 28), np.float32)
    image[4:24, 12:16] = value
    return image


@pytest.fixture
def corrections(tmp_path):
    store = FeedbackStore(tmp_path / "feedback.sqlite3", timeout=0.2)
    for label in (1, 7):
        store.save(digit_image(1.0), label, 4, "mlp-test", session="class-a")
    return store


@pytest.fixture(scope="module")
def committed_holder():
    return app.ModelHolder(COMMITTED_STORE)


def submit(store: FeedbackStore, label: int, holder) -> str:
    """What the student sees after "that's wrong, it was ``label``" on a drawn 3."""
    import classroom

    drawing = np.asarray(Image.open(example_path(3)).convert("L"))
    return classroom.submit_correction(drawing, label, holder, store, "class-a")


def test_a_locked_feedback_database_says_not_saved_and_loses_nothing(
    corrections, committed_holder
):
    before = saved_rows(corrections)
    with closing(sqlite3.connect(corrections.path, isolation_level=None)) as other:
        other.execute("BEGIN EXCLUSIVE")  # Another process holds the write lock.
        message = submit(corrections, 2, committed_holder)
        other.execute("ROLLBACK")
    assert message == "Not saved: database is locked"
    assert saved_rows(corrections) == before
    # Once the lock is gone, saving works.
    assert submit(corrections, 2, committed_holder) == (
        f"Saved: thanks, {len(before) + 1} corrections so far"
    )


def test_a_failing_disk_write_says_not_saved_and_loses_nothing(
    corrections, committed_holder, monkeypatch
):
    before = saved_rows(corrections)
    size = os.path.getsize(corrections.path)
    connect = corrections._connect

    def full_disk():
        # SQLite's own "disk full" path: the file may not grow by a single page.
        connection = connect()
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count = {pages}")
        return connection

    monkeypatch.setattr(corrections, "_connect", full_disk)
    messages = {submit(corrections, label, committed_holder) for label in (0, 1, 2)}
    assert messages == {"Not saved: database or disk is full"}
    monkeypatch.undo()
    assert saved_rows(corrections) == before
    assert os.path.getsize(corrections.path) == size
    assert submit(corrections, 9, committed_holder).startswith("Saved: ")
