"""A photo as a classifier's input tensor: size, crops, colour order, scaling, layout."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from xmpvision.config.defaults import ClassifierLayout, ColorOrder, ResizeMode
from xmpvision.engines.classifier.crops import cover_crops, fit_image, square_crops
from xmpvision.engines.classifier.labels import FloatArray


def channels(values: Sequence[float]) -> FloatArray:
    """One value per channel: three as given, or one for all three."""
    array = np.asarray(list(values), np.float32)
    return np.repeat(array, 3) if array.size == 1 else array


@dataclass(frozen=True)
class Preprocess:
    """How one model wants its input. Mean and StdDev apply to pixels scaled to 0..1, in the
    model's colour order."""

    width: int
    height: int
    layout: ClassifierLayout
    color_order: ColorOrder
    mean: tuple[float, ...]
    std_dev: tuple[float, ...]
    mode: ResizeMode
    short_edge: int | None
    crop_ratio: float
    resample: Image.Resampling

    def __post_init__(self) -> None:
        if len(channels(self.mean)) != 3 or len(channels(self.std_dev)) != 3:
            raise ValueError("Mean and StdDev need one value per channel (3) or one for all")
        if not np.all(channels(self.std_dev) != 0):
            raise ValueError("StdDev must not be 0")

    @property
    def decode_size(self) -> int:
        """The shortest side to ask of the photo: enough pixels for every crop, no more."""
        if self.mode != "center-crop":
            return max(self.width, self.height)
        if self.short_edge is not None:
            return max(self.short_edge, self.width, self.height)
        return int(np.ceil(max(self.width, self.height) / self.crop_ratio))

    def images(self, image: Image.Image) -> list[Image.Image]:
        """The input-sized images the photo is classified on (their best score counts)."""
        rgb = image.convert("RGB")
        if self.mode != "center-crop":
            return [fit_image(rgb, self.width, self.height, mode=self.mode,
                              resample=self.resample)]
        if (self.width == self.height and self.crop_ratio == 1 and self.short_edge is None
                and self.resample == Image.Resampling.BILINEAR):
            return square_crops(rgb, self.width)
        return cover_crops(rgb, self.width, self.height, crop_ratio=self.crop_ratio,
                           short_edge=self.short_edge, resample=self.resample)

    def tensor(self, images: Sequence[Image.Image]) -> FloatArray:
        """N x H x W x 3 (NHWC) or N x 3 x H x W (NCHW) float32, scaled and normalised."""
        batch = np.stack([np.asarray(i, dtype=np.float32) for i in images]) / np.float32(255)
        if self.color_order == "BGR":
            batch = batch[..., ::-1]
        batch = (batch - channels(self.mean)) / channels(self.std_dev)
        if self.layout == "NCHW":
            batch = batch.transpose(0, 3, 1, 2)
        result: FloatArray = np.ascontiguousarray(batch, dtype=np.float32)
        return result

    def inputs(self, image: Image.Image) -> FloatArray:
        return self.tensor(self.images(image))
