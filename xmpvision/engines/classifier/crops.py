"""Bringing a photo to a classifier's input size: crops, stretching, padding (Pillow only)."""

from __future__ import annotations

from PIL import Image

from xmpvision.config.defaults import Interpolation, ResizeMode

RESAMPLING: dict[Interpolation, Image.Resampling] = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}


def square_crops(image: Image.Image, size: int) -> list[Image.Image]:
    """The centre square, plus for non-square images the left/top and right/bottom squares,
    each resized to size x size. A wide photo's subject is often off-centre; classifying the
    three squares and keeping each class's best score (PhotoPrism's approach) finds it."""
    width, height = image.size
    side = min(width, height)
    if width == height:
        boxes = [(0, 0, width, height)]
    elif width > height:
        left = (width - side) // 2
        boxes = [(left, 0, left + side, side), (0, 0, side, side), (width - side, 0, width, side)]
    else:
        top = (height - side) // 2
        boxes = [(0, top, side, top + side), (0, 0, side, side), (0, height - side, side, height)]
    out: list[Image.Image] = []
    for box in boxes:
        crop = image.crop(box)
        if crop.size != (size, size):
            crop = crop.resize((size, size), Image.Resampling.BILINEAR)
        out.append(crop)
    return out


def cover_crops(
    image: Image.Image,
    width: int,
    height: int,
    *,
    crop_ratio: float,
    short_edge: int | None,
    resample: Image.Resampling,
) -> list[Image.Image]:
    """Crops of `width` x `height` from the photo scaled so its short edge is `short_edge`
    (else so the crop is `crop_ratio` of it): the centre one, plus for a photo whose aspect
    differs from the input's the two ends of its long axis, as square_crops does."""
    w, h = image.size
    scale = max(width / w, height / h) / crop_ratio
    if short_edge is not None:
        scale = max(short_edge / min(w, h), width / w, height / h)
    box_w, box_h = width / scale, height / scale
    left, top = (w - box_w) / 2, (h - box_h) / 2
    boxes = [(left, top)]
    # The ends only where the photo is longer than the input's aspect makes the crop.
    if w * height > h * width and w - box_w >= 1:
        boxes += [(0.0, top), (w - box_w, top)]
    elif h * width > w * height and h - box_h >= 1:
        boxes += [(left, 0.0), (left, h - box_h)]
    return [
        image.resize((width, height), resample, box=(x, y, x + box_w, y + box_h))
        for x, y in boxes
    ]


def fit_image(
    image: Image.Image, width: int, height: int, *, mode: ResizeMode,
    resample: Image.Resampling,
) -> Image.Image:
    """The whole photo at `width` x `height`: stretched, or fitted inside with black borders
    ("pad")."""
    if mode == "stretch":
        return image.resize((width, height), resample)
    w, h = image.size
    scale = min(width / w, height / h)
    inner = (max(1, round(w * scale)), max(1, round(h * scale)))
    canvas = Image.new("RGB", (width, height))
    canvas.paste(image.resize(inner, resample), ((width - inner[0]) // 2, (height - inner[1]) // 2))
    return canvas
