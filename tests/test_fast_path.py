"""The fast path's decoder: only small PNG data URIs get through."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

import fast_path
import mnist_format


def data_uri(picture: Image.Image, image_format: str = "PNG") -> str:
    buffer = io.BytesIO()
    picture.save(buffer, format=image_format)
    return fast_path.DATA_URI_PREFIX + base64.b64encode(buffer.getvalue()).decode()


def drawn_one() -> Image.Image:
    side = fast_path.SENT_SIDE
    pixels = np.zeros((side, side, 4), dtype=np.uint8)
    pixels[20:120, 65:76, 3] = 255
    return Image.fromarray(pixels, mode="RGBA")


def test_a_png_data_uri_decodes_to_the_pixels_it_holds():
    pixels = fast_path.decode_drawing(data_uri(drawn_one()))
    assert pixels.shape == (fast_path.SENT_SIDE, fast_path.SENT_SIDE, 4)
    np.testing.assert_array_equal(pixels, np.asarray(drawn_one()))
    assert mnist_format.to_mnist(pixels) is not None


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "data:image/jpeg;base64,AAAA",
        fast_path.DATA_URI_PREFIX + "not base64!",
        fast_path.DATA_URI_PREFIX + base64.b64encode(b"not a picture").decode(),
        "x" * (fast_path.MAX_DATA_URI_CHARS + 1),
    ],
)
def test_anything_else_is_refused(value):
    with pytest.raises(ValueError):
        fast_path.decode_drawing(value)


def test_another_format_behind_the_png_prefix_is_refused():
    with pytest.raises(ValueError):
        fast_path.decode_drawing(data_uri(drawn_one().convert("RGB"), "JPEG"))


def test_a_picture_larger_than_the_cap_is_refused_before_decoding():
    side = fast_path.MAX_SENT_SIDE + 1
    big = Image.new("L", (side, side))
    with pytest.raises(ValueError, match="a side"):
        fast_path.decode_drawing(data_uri(big))


def test_a_header_claiming_ten_billion_pixels_is_refused():
    # PIL refuses such a header itself, with its own exception: still a ValueError.
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + header
    png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(header)) + chunk
    png += struct.pack(">I", zlib.crc32(chunk))
    uri = fast_path.DATA_URI_PREFIX + base64.b64encode(png).decode()
    with pytest.raises(ValueError, match="not a readable PNG"):
        fast_path.decode_drawing(uri)


def test_the_script_names_the_page_elements_and_the_stroke_width():
    script = fast_path.fast_path_js("sketchpad", "fast-drawing", 280, 15)
    assert '"#sketchpad"' in script
    assert '"#fast-drawing textarea, #fast-drawing input"' in script
    assert "const strokeWidth = 30;" in script
    assert "%(" not in script
