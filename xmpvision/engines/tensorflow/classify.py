"""What a TensorFlow classifier is fed: square NHWC crops, scaled as the model expects."""

from __future__ import annotations

from PIL import Image

from xmpvision.config.defaults import (
    DEFAULT_TF_NORMALIZATION_MEAN,
    DEFAULT_TF_NORMALIZATION_STD_DEV,
)
from xmpvision.config.models import ModelConfig
from xmpvision.engines.classifier.preprocess import Preprocess
from xmpvision.engines.tensorflow import KerasApp


def tf_preprocess(size: int, config: ModelConfig, app: KerasApp | None) -> Preprocess:
    """Square crops of `size` (centre, plus both ends of a long photo), scaled by vision.yml's
    `Normalization`, else the Keras application's own scaling, else NASNet's -1..1."""
    norm = config.normalization
    mean = app.mean if app else DEFAULT_TF_NORMALIZATION_MEAN
    std_dev = app.std_dev if app else DEFAULT_TF_NORMALIZATION_STD_DEV
    return Preprocess(
        width=size, height=size, layout="NHWC",
        color_order=app.color_order if app else "RGB",
        mean=tuple(norm.mean) if norm and norm.mean else mean,
        std_dev=tuple(norm.std_dev) if norm and norm.std_dev else std_dev,
        mode="center-crop", short_edge=None, crop_ratio=1.0,
        resample=Image.Resampling.BILINEAR,
    )
