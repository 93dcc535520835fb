"""The class's corrections: drawings the model got wrong, with the right answer.

When a student says "that's wrong, it was 7", the app calls `FeedbackStore.save` with
the drawing in MNIST format, the true digit and the model's answer. Each correction is
one row of an SQLite database, ``feedback.sqlite3`` in the data directory
(``$DIGIT_SKETCHPAD_DATA``, by default ``data/`` at the top of the repository). The
database keeps the 28x28 image as 784 bytes, the drawing as the student made it as a
small PNG, and who answered what, when.

Many students submit at once, from the app's worker threads or from several app
processes: every call opens its own connection, every write is one transaction, and the
database runs in WAL mode with a busy timeout, so simultaneous saves wait for each other
instead of failing. A save that cannot be made raises `FeedbackError`, whose message is
meant for the student, and leaves every earlier correction in place.

`FeedbackStore.export_npz` writes the corrections as an MNIST-like npz, which
``python -m training --feedback FILE`` mixes into the training set. To export from a
shell:

    python -m feedback corrections.npz            # from the default data directory
    python -m feedback corrections.npz --database data/feedback.sqlite3
"""

from __future__ import annotations

import argparse
import io
import logging
import operator
import os
import sqlite3
import sys
import tempfile
import threading
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from training.data import IMAGE_SIDE, NUM_CLASSES

log = logging.getLogger(__name__)

DATA_ENV = "DIGIT_SKETCHPAD_DATA"
DATABASE_FILE = "feedback.sqlite3"
PIXEL_COUNT = IMAGE_SIDE * IMAGE_SIDE
PIXEL_MAX = np.iinfo(np.uint8).max
# The drawing is kept for a teacher to look at, not to train on: ten times the MNIST
# side shows it clearly and keeps a row to a few kilobytes.
ORIGINAL_MAX_SIDE = 10 * IMAGE_SIDE
# How long a save waits for another writer before giving up. A write takes
# milliseconds, so five seconds covers a whole class pressing the button together.
BUSY_TIMEOUT_S = 5.0
RECENT_LIMIT = 24
NO_ANSWER = -1  # `predicted` in the npz export when the model's answer is unknown.
SCHEMA_VERSION = 1

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS corrections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,
    label INTEGER NOT NULL CHECK (label BETWEEN 0 AND {NUM_CLASSES - 1}),
    predicted INTEGER CHECK (predicted BETWEEN 0 AND {NUM_CLASSES - 1}),
    model_name TEXT NOT NULL,
    session TEXT,
    image BLOB NOT NULL CHECK (length(image) = {PIXEL_COUNT}),
    original_png BLOB
);
CREATE INDEX IF NOT EXISTS corrections_by_session ON corrections (session);
"""
COLUMNS = "id, image, original_png, label, predicted, model_name, session, created"


class FeedbackError(RuntimeError):
    """A correction could not be stored or read; the message can be shown as is.

    ``reason`` is the cause alone (e.g. "database is locked"), for a caller that words
    the message itself, in another language for instance.
    """

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason if reason is not None else message


@dataclass(frozen=True, eq=False)
class Correction:
    """One stored correction. ``image`` is read-only, like the rest of the record."""

    id: int
    image: np.ndarray  # (28, 28) float32 in [0, 1], as the model saw it.
    original_png: bytes | None
    label: int
    predicted: int | None
    model_name: str
    session: str | None
    created: str  # ISO 8601, UTC, to the second.


def default_data_dir() -> Path:
    """``$DIGIT_SKETCHPAD_DATA`` if set, else ``data/`` at the repository's top."""
    override = os.environ.get(DATA_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parent / "data"


def check_digit(value: Any, what: str, *, optional: bool = False) -> int | None:
    """Returns ``value`` as an int in 0..9 (or None when allowed), else raises."""
    if value is None and optional:
        return None
    try:
        # operator.index takes Python and numpy integers but refuses 3.5 and "3".
        digit = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        digit = None
    if digit is None or not 0 <= digit < NUM_CLASSES:
        raise ValueError(f"{what} must be a digit 0..{NUM_CLASSES - 1}, got {value!r}")
    return digit


def image_bytes(image: Any) -> bytes:
    """The 28x28 MNIST-format image as 784 bytes, one per pixel, 0..255."""
    pixels = np.asarray(image)
    if pixels.shape != (IMAGE_SIDE, IMAGE_SIDE):
        raise ValueError(
            f"image must be {IMAGE_SIDE}x{IMAGE_SIDE} (MNIST format), "
            f"got shape {pixels.shape}"
        )
    if not np.issubdtype(pixels.dtype, np.number) or np.iscomplexobj(pixels):
        raise ValueError(f"image must hold real numbers, got dtype {pixels.dtype}")
    pixels = pixels.astype(np.float64)
    if not np.isfinite(pixels).all():
        raise ValueError("image contains NaN or infinite values")
    if pixels.min() < 0.0 or pixels.max() > 1.0:
        raise ValueError(
            f"image values must lie in [0, 1], got {pixels.min():g}..{pixels.max():g}"
        )
    return np.rint(pixels * PIXEL_MAX).astype(np.uint8).tobytes()


def image_from_bytes(data: bytes) -> np.ndarray:
    pixels = np.frombuffer(data, dtype=np.uint8).reshape(IMAGE_SIDE, IMAGE_SIDE)
    image = pixels.astype(np.float32) / PIXEL_MAX
    image.flags.writeable = False
    return image


def original_png(original: Any) -> bytes | None:
    """The drawing as PNG bytes, shrunk so that its longer side is at most 280 px."""
    if original is None:
        return None
    if isinstance(original, Image.Image):
        picture = original.copy()
    else:
        pixels = np.asarray(original)
        if pixels.ndim == 3 and pixels.shape[2] == 1:
            pixels = pixels[:, :, 0]
        if pixels.ndim not in (2, 3) or (
            pixels.ndim == 3 and pixels.shape[2] not in (3, 4)
        ):
            raise ValueError(
                "original must be a PIL image or an HxW, HxWx3 or HxWx4 array, "
                f"got shape {pixels.shape}"
            )
        if pixels.size == 0:
            raise ValueError("original is an empty image")
        if pixels.dtype == np.bool_:
            pixels = pixels.astype(np.uint8) * PIXEL_MAX
        elif np.issubdtype(pixels.dtype, np.floating):
            # Float pixels are taken to be on the usual [0, 1] scale.
            pixels = np.rint(np.clip(np.nan_to_num(pixels), 0, 1) * PIXEL_MAX)
        elif not np.issubdtype(pixels.dtype, np.integer):
            raise ValueError(f"original has unusable dtype {pixels.dtype}")
        picture = Image.fromarray(np.clip(pixels, 0, PIXEL_MAX).astype(np.uint8))
    if picture.mode not in ("L", "LA", "RGB", "RGBA"):
        picture = picture.convert("RGBA")
    picture.thumbnail((ORIGINAL_MAX_SIDE, ORIGINAL_MAX_SIDE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def correction_from_row(row: tuple) -> Correction:
    identifier, image, png, label, predicted, model_name, session, created = row
    return Correction(
        id=identifier,
        image=image_from_bytes(image),
        original_png=png,
        label=label,
        predicted=predicted,
        model_name=model_name,
        session=session,
        created=created,
    )


class FeedbackStore:
    """The corrections database at ``path`` (default: the data directory's file).

    Nothing touches the disk until the first call: the directory and the table are
    created by the first save, and reading a store that does not exist yet gives no
    corrections. Safe to share between threads; every call uses its own connection.
    """

    def __init__(
        self, path: Path | str | None = None, *, timeout: float = BUSY_TIMEOUT_S
    ):
        self.path = (
            Path(path) if path is not None else default_data_dir() / DATABASE_FILE
        )
        self.timeout = timeout
        self._schema_lock = threading.Lock()
        self._schema_ready = False

    def __repr__(self) -> str:
        return f"FeedbackStore({str(self.path)!r})"

    # Connections.

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: transactions are begun and ended explicitly below, so
        # each write is exactly one BEGIN IMMEDIATE ... COMMIT.
        return sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)

    def _ensure_schema(self) -> None:
        with self._schema_lock:
            if self._schema_ready:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(self._connect()) as connection:
                # WAL lets readers go on while one student's save is written, and is a
                # property of the file, so setting it once serves every connection.
                mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if mode.lower() != "wal":
                    log.warning("%s runs in %s mode, not WAL", self.path, mode)
                connection.execute("BEGIN IMMEDIATE")
                try:
                    version = connection.execute("PRAGMA user_version").fetchone()[0]
                    if version > SCHEMA_VERSION:
                        raise sqlite3.DatabaseError(
                            f"{self.path} was written by a newer version "
                            f"(schema {version}, this code knows {SCHEMA_VERSION})"
                        )
                    for statement in SCHEMA.split(";"):
                        if statement.strip():
                            connection.execute(statement)
                    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                    connection.execute("COMMIT")
                except BaseException:
                    if connection.in_transaction:
                        connection.execute("ROLLBACK")
                    raise
            self._schema_ready = True

    def _read(self, query: str, parameters: tuple = ()) -> list[tuple]:
        """Rows of one query; an empty list while no correction was ever saved.

        Reading creates nothing and takes no write lock, so the teacher's views stay
        quick while students are saving.
        """
        if not self._schema_ready and not self.path.is_file():
            return []
        try:
            with closing(self._connect()) as connection:
                if (
                    not self._schema_ready
                    and not connection.execute(
                        "SELECT 1 FROM sqlite_master WHERE type = 'table' "
                        "AND name = 'corrections'"
                    ).fetchone()
                ):
                    return []
                return connection.execute(query, parameters).fetchall()
        except (sqlite3.Error, OSError) as error:
            raise FeedbackError(
                f"the corrections could not be read: {error}", reason=str(error)
            ) from error

    # Writing.

    def save(
        self,
        image: Any,
        label: int,
        predicted: int | None,
        model_name: str,
        *,
        session: str | None = None,
        original: Any = None,
    ) -> int:
        """Stores one correction and returns its id.

        ``image`` is the drawing in MNIST format, (28, 28) floats in [0, 1]; ``label``
        the digit the student meant; ``predicted`` the model's answer (None if there
        was none); ``original`` the drawing as drawn (array or PIL image), kept as a
        PNG. Bad arguments raise ValueError; a database that cannot be written raises
        `FeedbackError`, and the corrections saved before are untouched.
        """
        label = check_digit(label, "label")
        predicted = check_digit(predicted, "predicted", optional=True)
        if not isinstance(model_name, str) or not model_name:
            raise ValueError(
                f"model_name must be a non-empty string, got {model_name!r}"
            )
        if session is not None and not isinstance(session, str):
            raise ValueError(f"session must be a string or None, got {session!r}")
        row = (
            datetime.now(UTC).isoformat(timespec="seconds"),
            label,
            predicted,
            model_name,
            session,
            image_bytes(image),
            original_png(original),
        )
        try:
            self._ensure_schema()
            with closing(self._connect()) as connection:
                connection.execute("BEGIN IMMEDIATE")
                try:
                    cursor = connection.execute(
                        "INSERT INTO corrections (created, label, predicted, "
                        "model_name, session, image, original_png) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        row,
                    )
                    connection.execute("COMMIT")
                except BaseException:
                    # A failed COMMIT has already ended the transaction in SQLite.
                    if connection.in_transaction:
                        connection.execute("ROLLBACK")
                    raise
        except (sqlite3.Error, OSError) as error:
            log.error("correction not saved in %s: %s", self.path, error)
            raise FeedbackError(
                f"the correction was not saved: {error}", reason=str(error)
            ) from error
        identifier = int(cursor.lastrowid)
        log.info(
            "correction %d saved: %s read as %s by %s",
            identifier,
            label,
            predicted,
            model_name,
        )
        return identifier

    # Reading.

    def count(self) -> int:
        rows = self._read("SELECT COUNT(*) FROM corrections")
        return int(rows[0][0]) if rows else 0

    def recent(self, limit: int = RECENT_LIMIT) -> list[Correction]:
        """The last ``limit`` corrections, newest first."""
        if (
            isinstance(limit, bool)
            or not isinstance(limit, int | np.integer)
            or limit < 0
        ):
            raise ValueError(f"limit must be a whole number >= 0, got {limit!r}")
        rows = self._read(
            f"SELECT {COLUMNS} FROM corrections ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [correction_from_row(row) for row in rows]

    def scoreboard(self, session: str | None = None) -> dict[int, dict[str, int]]:
        """How often each digit was misread, for one session or (None) everyone.

        Every digit 0..9 has an entry ``{"wrong": n}``. Where the model's answers are
        known, ``"answer"`` is its most common wrong answer for that digit (the
        smaller digit on a tie) and ``"answer_count"`` how often it gave it.
        """
        query = "SELECT label, predicted, COUNT(*) FROM corrections"
        parameters: tuple = ()
        if session is not None:
            query += " WHERE session = ?"
            parameters = (session,)
        rows = self._read(query + " GROUP BY label, predicted", parameters)
        wrong: Counter[int] = Counter()
        answers: dict[int, Counter[int]] = {
            digit: Counter() for digit in range(NUM_CLASSES)
        }
        for label, predicted, times in rows:
            wrong[label] += times
            if predicted is not None:
                answers[label][predicted] += times
        board: dict[int, dict[str, int]] = {}
        for digit in range(NUM_CLASSES):
            entry = {"wrong": wrong[digit]}
            if answers[digit]:
                answer, times = min(
                    answers[digit].items(), key=lambda item: (-item[1], item[0])
                )
                entry |= {"answer": answer, "answer_count": times}
            board[digit] = entry
        return board

    def export_npz(self, path: str | os.PathLike) -> int:
        """Writes every correction, oldest first, as an MNIST-like npz; returns N.

        Arrays: ``x`` (N, 28, 28) uint8 and ``y`` (N,) uint8 as in Keras' mnist.npz,
        ``predicted`` (N,) int16 with -1 for an unknown answer, ``model`` (N,) the
        model names as a unicode array, and ``id`` (N,) int64, the rows' ids. No
        object arrays, so ``np.load(path, allow_pickle=False)`` reads it. The file is
        written under a temporary name and renamed, so a reader never sees half of it.
        """
        rows = self._read(
            "SELECT id, image, label, predicted, model_name FROM corrections "
            "ORDER BY id"
        )
        count = len(rows)
        images = np.zeros((count, IMAGE_SIDE, IMAGE_SIDE), dtype=np.uint8)
        for index, row in enumerate(rows):
            images[index] = np.frombuffer(row[1], dtype=np.uint8).reshape(
                IMAGE_SIDE, IMAGE_SIDE
            )
        arrays = {
            "x": images,
            "y": np.array([row[2] for row in rows], dtype=np.uint8),
            "predicted": np.array(
                [NO_ANSWER if row[3] is None else row[3] for row in rows],
                dtype=np.int16,
            ),
            "model": np.array([row[4] for row in rows], dtype=np.str_),
            "id": np.array([row[0] for row in rows], dtype=np.int64),
        }
        target = Path(path)
        with tempfile.NamedTemporaryFile(
            dir=target.parent, prefix=f".{target.name}-", suffix=".npz", delete=False
        ) as handle:
            try:
                np.savez_compressed(handle, **arrays)
                handle.flush()
                os.fsync(handle.fileno())
            except BaseException:
                Path(handle.name).unlink(missing_ok=True)
                raise
        os.replace(handle.name, target)
        log.info("exported %d corrections to %s", count, target)
        return count


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(
        prog="python -m feedback",
        description="Export the class's corrections as an npz for training.",
    )
    parser.add_argument("output", help="the npz file to write")
    parser.add_argument(
        "--database",
        default=None,
        help=f"the corrections database (default: ${DATA_ENV}/{DATABASE_FILE} "
        f"or data/{DATABASE_FILE})",
    )
    arguments = parser.parse_args(argv)
    FeedbackStore(arguments.database).export_npz(arguments.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
