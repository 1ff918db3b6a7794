"""Image preparation: orientation, colour modes, sizes, memoisation and bad files."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from xmpvision.errors import ImageError
from xmpvision.prepare.images import PhotoImage


def _jpeg_bytes(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _save(image: Image.Image, path: Path, **params: Any) -> Path:
    image.save(path, **params)
    return path


def test_jpeg_longest_side_equals_resolution(tmp_path: Path) -> None:
    path = _save(Image.new("RGB", (1600, 1200), "red"), tmp_path / "wide.jpg")
    out = _jpeg_bytes(PhotoImage(path).jpeg(720))
    assert out.format == "JPEG"
    assert out.size == (720, 540)


def test_portrait_longest_side_is_height(tmp_path: Path) -> None:
    path = _save(Image.new("RGB", (900, 1800), "red"), tmp_path / "tall.png")
    assert _jpeg_bytes(PhotoImage(path).jpeg(720)).size == (360, 720)


def test_small_images_are_not_upscaled(tmp_path: Path) -> None:
    path = _save(Image.new("RGB", (300, 200), "blue"), tmp_path / "small.jpg")
    assert _jpeg_bytes(PhotoImage(path).jpeg(720)).size == (300, 200)


def test_exif_orientation_6_rotates(tmp_path: Path) -> None:
    image = Image.new("RGB", (1600, 800), "white")
    image.paste((255, 0, 0), (0, 0, 200, 800))  # red band on the stored left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to display
    path = _save(image, tmp_path / "rotated.jpg", exif=exif.tobytes(), quality=95)

    photo = PhotoImage(path)
    out = _jpeg_bytes(photo.jpeg(720))
    assert out.size == (360, 720)
    assert photo.size == (800, 1600)
    # After rotating clockwise, the stored left edge is at the top.
    top = out.getpixel((180, 10))
    bottom = out.getpixel((180, 710))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 200 and top[1] < 80
    assert bottom[1] > 200


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    path = _save(Image.new("CMYK", (400, 300), (0, 255, 255, 0)), tmp_path / "cmyk.jpg")
    out = _jpeg_bytes(PhotoImage(path).jpeg(200))
    assert out.mode == "RGB"
    red, green, blue = out.getpixel((100, 75))  # type: ignore[misc]
    assert red > 200 and green < 60 and blue < 60


def test_16_bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    image = Image.new("I;16", (200, 100), 32768)  # mid grey in 16 bits
    path = _save(image, tmp_path / "deep.png")
    out = PhotoImage(path).rgb(200)
    assert out.mode == "RGB"
    red, green, blue = out.getpixel((10, 10))  # type: ignore[misc]
    assert 120 <= red <= 135 and red == green == blue


def test_alpha_is_composited_over_white(tmp_path: Path) -> None:
    path = _save(Image.new("RGBA", (100, 100), (0, 0, 0, 0)), tmp_path / "clear.png")
    out = PhotoImage(path).rgb(100)
    assert out.mode == "RGB"
    assert out.getpixel((50, 50)) == (255, 255, 255)


def test_palette_with_transparency(tmp_path: Path) -> None:
    image = Image.new("P", (64, 64), 0)
    image.putpalette([0, 0, 255] + [0, 255, 0] * 255)
    image.info["transparency"] = 0
    path = _save(image, tmp_path / "palette.gif", transparency=0)
    out = PhotoImage(path).rgb(64)
    assert out.mode == "RGB"
    assert out.getpixel((5, 5)) == (255, 255, 255)


def test_palette_without_transparency(tmp_path: Path) -> None:
    image = Image.new("RGB", (64, 64), (0, 200, 0)).convert("P")
    path = _save(image, tmp_path / "palette.png")
    red, green, _blue = PhotoImage(path).rgb(64).getpixel((5, 5))  # type: ignore[misc]
    assert green > 150 and red < 60


def test_rgb_shortest_fit_for_centre_crops(tmp_path: Path) -> None:
    path = _save(Image.new("RGB", (1600, 1200), "red"), tmp_path / "wide.jpg")
    out = PhotoImage(path).rgb(224, fit="shortest")
    assert out.size == (299, 224)


def test_memoised_per_size_and_decoded_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _save(Image.new("RGB", (1600, 1200), "red"), tmp_path / "wide.jpg")
    photo = PhotoImage(path)
    opened: list[object] = []
    real_open = Image.open

    def counting_open(*args: object, **kwargs: object) -> Image.Image:
        opened.append(args[0])
        return real_open(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Image, "open", counting_open)
    first = photo.jpeg(720)
    assert photo.jpeg(720) is first
    # A classifier asking for a smaller size after the Ollama request reuses the decode.
    photo.rgb(224, fit="shortest")
    assert len(opened) == 1
    photo.close()
    photo.jpeg(720)
    assert len(opened) == 2


def test_jpeg_draft_decodes_at_reduced_scale(tmp_path: Path) -> None:
    path = _save(Image.new("RGB", (4000, 3000), "red"), tmp_path / "big.jpg")
    photo = PhotoImage(path)
    photo.jpeg(720)
    decoded = photo._decoded
    assert decoded is not None
    # 1/4 scale (1000x750) is the smallest that still covers 720x540.
    assert decoded.size == (1000, 750)


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageError, match="empty file"):
        PhotoImage(path).jpeg(720)


def test_text_named_jpg(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a photo\n")
    with pytest.raises(ImageError, match="not an image") as info:
        PhotoImage(path).jpeg(720)
    assert info.value.path == path


def test_truncated_jpeg(tmp_path: Path) -> None:
    full = _save(Image.effect_noise((800, 600), 64).convert("RGB"), tmp_path / "full.jpg")
    path = tmp_path / "cut.jpg"
    path.write_bytes(full.read_bytes()[:3000])
    with pytest.raises(ImageError, match="truncated or corrupt"):
        PhotoImage(path).jpeg(720)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="file not found"):
        PhotoImage(tmp_path / "gone.jpg").jpeg(720)


def test_decompression_bomb_limit_is_an_error(tmp_path: Path) -> None:
    path = _save(Image.new("RGB", (200, 200), "red"), tmp_path / "bomb.png")
    with pytest.raises(ImageError, match="image too large: 200x200 pixels exceeds the limit"):
        PhotoImage(path, max_pixels=10_000).jpeg(720)


def test_default_limit_follows_pillow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _save(Image.new("RGB", (200, 200), "red"), tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ImageError, match="decompression bomb"):
        PhotoImage(path).rgb(100)


def test_output_carries_no_metadata(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    path = _save(Image.new("RGB", (400, 300), "red"), tmp_path / "meta.jpg", exif=exif.tobytes())
    data = PhotoImage(path).jpeg(200)
    assert b"SecretCam" not in data
