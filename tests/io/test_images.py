"""open_image / save_image: full decode, clear errors, EXIF orientation, pixel limits, formats."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from animegan.errors import ImageDecodeError, ImageTooLargeError, InputError
from animegan.io.images import open_image, save_image


def _gradient(width: int = 48, height: int = 32) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    arr = np.concatenate([np.broadcast_to(x, (height, width, 1)), np.broadcast_to(y, (height, width, 1)),
                          np.full((height, width, 1), 90, np.float32)], axis=2)
    return Image.fromarray(arr.astype(np.uint8), "RGB")


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width``×``height`` (no real pixel data): a decompression bomb stand-in."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(
        b"IEND", b"")


def test_text_file_named_jpg_is_a_decode_error(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("hello, I am not a picture\n")
    with pytest.raises(ImageDecodeError, match=r"notes\.jpg: not a decodable image \("):
        open_image(path)


def test_truncated_jpeg_is_a_decode_error(tmp_path):
    buf = io.BytesIO()
    _gradient(256, 256).save(buf, "JPEG", quality=90)
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageDecodeError, match=r"cut\.jpg: not a decodable image \(truncated"):
        open_image(path)


def test_zero_byte_file_is_a_decode_error(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageDecodeError, match=r"empty\.png: not a decodable image \(empty file\)"):
        open_image(path)


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        open_image(tmp_path / "nope.png")


def test_exif_orientation_6_is_applied(tmp_path):
    img = _gradient(48, 32)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    path = tmp_path / "rotated.jpg"
    img.save(path, "JPEG", quality=95, exif=exif)
    opened = open_image(path)
    assert opened.size == (32, 48)
    expected = np.asarray(img.transpose(Image.Transpose.ROTATE_270), dtype=np.float32)
    assert np.abs(np.asarray(opened, dtype=np.float32) - expected).mean() < 3.0


def test_cmyk_jpeg_opens_and_converts_to_rgb_on_save(tmp_path):
    path = tmp_path / "print.jpg"
    _gradient().convert("CMYK").save(path, "JPEG", quality=95)
    img = open_image(path)
    assert img.mode == "CMYK"
    written = save_image(img, tmp_path / "out.webp")
    assert Image.open(written).mode == "RGB"


def test_bomb_refused_from_header_naming_max_side():
    data = _png_header_only(12000, 9000)
    with pytest.raises(ImageTooLargeError, match="set max_side") as info:
        open_image(data, max_pixels=8192 * 8192)
    assert "12000×9000" in str(info.value) and "downscale" in str(info.value)
    # the library names its parameter; the CLI says the same message with its flag
    assert "--" not in str(info.value) and "set --max-side (e.g. --max-side 2048)" in info.value.as_flag()


def test_bomb_over_pillows_hard_limit_refused_even_with_max_side():
    data = _png_header_only(20000, 20000)
    for max_side in (None, 1024):
        with pytest.raises(ImageTooLargeError, match=r"400 MP.*hard limit.* max_side cannot"):
            open_image(data, max_side=max_side)


def test_over_pixel_limit_refused_but_max_side_lets_it_open(tmp_path):
    path = tmp_path / "big.jpg"
    _gradient(400, 300).save(path, "JPEG", quality=95)
    with pytest.raises(ImageTooLargeError, match="max_side"):
        open_image(path, max_pixels=100 * 100)
    img = open_image(path, max_pixels=100 * 100, max_side=100)
    assert max(img.size) >= 100  # JPEG draft decodes at a reduced scale, never below max_side
    assert max(img.size) <= 400


def test_bytes_and_file_objects_open(tmp_path):
    buf = io.BytesIO()
    _gradient().save(buf, "PNG")
    assert open_image(buf.getvalue()).size == (48, 32)
    buf.seek(0)
    assert open_image(buf).size == (48, 32)


def test_alpha_forces_png_under_auto(tmp_path):
    rgba = _gradient().convert("RGBA")
    written = save_image(rgba, tmp_path / "out.jpg")
    assert written.suffix == ".png"
    back = Image.open(written)
    assert back.mode == "RGBA"
    assert np.array_equal(np.asarray(back), np.asarray(rgba))


def test_explicit_jpg_flattens_alpha_and_honours_quality(tmp_path):
    rgba = _gradient().convert("RGBA")
    low = save_image(rgba, tmp_path / "a.png", ext="jpg", quality=20)
    high = save_image(rgba, tmp_path / "b.png", ext="jpg", quality=98)
    assert low.suffix == ".jpg" and Image.open(low).mode == "RGB"
    assert low.stat().st_size < high.stat().st_size


def test_16bit_saves_as_16bit_png_and_8bit_jpeg(tmp_path):
    arr = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)
    img = Image.fromarray(arr)
    png = save_image(img, tmp_path / "deep.png")
    assert np.array_equal(np.asarray(Image.open(png)), arr)
    jpg = save_image(img, tmp_path / "deep.jpg")
    assert np.abs(np.asarray(Image.open(jpg), np.float32) - (arr >> 8)).mean() < 2.0


def test_save_leaves_no_temporary_files(tmp_path):
    save_image(_gradient(), tmp_path / "x.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png"]


def test_unknown_ext_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="^ext gif: must be one of auto, png, jpg, jpeg, webp$"):
        save_image(_gradient(), tmp_path / "x.png", ext="gif")


# -- the format allow-list (issue 13 item 5) ---------------------------------------------------------------

EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\n0 0 moveto 16 16 lineto stroke\nshowpage\n%%EOF\n"


def test_eps_is_refused_before_ghostscript_could_run(tmp_path, monkeypatch):
    from PIL import EpsImagePlugin

    marker = tmp_path / "ghostscript-ran"
    fake_gs = tmp_path / "gs"
    fake_gs.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    fake_gs.chmod(0o755)
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", str(fake_gs), raising=False)
    path = tmp_path / "drawing.eps"
    path.write_bytes(EPS)
    with pytest.raises(ImageDecodeError) as info:
        open_image(path)
    assert str(info.value).startswith(f"{path}: not an accepted image format (it looks like EPS;")
    assert "JPEG, PNG, WEBP, GIF, BMP, TIFF" in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize("fmt", ["PPM", "ICO", "SGI"])
def test_formats_outside_the_allow_list_are_refused(tmp_path, fmt):
    path = tmp_path / f"pic.{fmt.lower()}"
    _gradient(16, 16).save(path, format=fmt)
    with pytest.raises(ImageDecodeError, match="not an accepted image format"):
        open_image(path)
    assert open_image(path, formats=None).size == (16, 16)  # the library can still opt in to every format


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_every_allowed_format_opens(fmt):
    buffer = io.BytesIO()
    _gradient(24, 16).save(buffer, format=fmt)
    assert open_image(buffer.getvalue()).size == (24, 16)


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (20, 12), colour) for colour in ((250, 0, 0), (0, 0, 250))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    first = np.asarray(open_image(buffer.getvalue()).convert("RGB"))
    assert first[..., 0].mean() > 200 and first[..., 2].mean() < 50
