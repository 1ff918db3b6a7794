"""Where the TensorFlow classifier lives, and fetching PhotoPrism's nasnet.zip on first use.

Where the model is looked for, first match wins:
1. `Path` of the model in vision.yml;
2. `$XMPVISION_MODELS/<model>` (the model name defaults to `nasnet`);
3. `$XDG_DATA_HOME/xmpvision/models/<model>` (`~/.local/share/xmpvision/models/nasnet`).
When the directory is missing and the model is `nasnet`, nasnet.zip is downloaded from
PhotoPrism's download host (or `$XMPVISION_NASNET_URL`), checked against the catalog's digest
when it comes from the catalog's URL, and unpacked there. Set `XMPVISION_NO_DOWNLOAD=1` to
forbid the download (offline NAS, managed installs); `xmpvision models pull` fetches it on
request. Fetching, checking and unpacking: engines/downloads.py; the catalog: engines/catalog.py.

Needs neither numpy nor TensorFlow, so `vision ls` can say where the model would come from on
any install.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import httpx

from xmpvision.config.defaults import DEFAULT_CLASSIFIER_MODEL
from xmpvision.config.models import ModelConfig
from xmpvision.engines import catalog
from xmpvision.engines.catalog import ENV_MODELS, models_root
from xmpvision.engines.downloads import (
    MAX_DOWNLOAD_BYTES,
    DownloadFailed,
    Layout,
    UnsafeArchive,
    install,
    safe_extract,
)
from xmpvision.errors import EngineUnavailable

__all__ = [
    "ENV_MODELS",
    "ENV_MODEL_URL",
    "ENV_NO_DOWNLOAD",
    "MODEL_URL",
    "UnsafeArchive",
    "download_model",
    "model_dir",
    "model_name",
    "models_root",
    "resolve_model_dir",
    "safe_extract",
    "truthy",
]

log = logging.getLogger(__name__)

_NASNET = catalog.CATALOG[DEFAULT_CLASSIFIER_MODEL]
MODEL_URL = _NASNET.url
ENV_NO_DOWNLOAD = "XMPVISION_NO_DOWNLOAD"
ENV_MODEL_URL = _NASNET.url_env
# What any SavedModel download must unpack to, whichever URL it comes from.
SAVED_MODEL: Layout = _NASNET.layout


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def model_name(config: ModelConfig) -> str:
    """The model's name as recorded in labels' provenance; "nasnet" unless configured."""
    name = (config.model or config.name or "").strip()
    return name or DEFAULT_CLASSIFIER_MODEL


def resolve_model_dir(config: ModelConfig, env: Mapping[str, str]) -> Path:
    """The directory the model is loaded from (it may not exist yet)."""
    if config.path:
        return Path(config.path).expanduser()
    # Only the last path component: a model name must not steer us outside the models root.
    return models_root(env) / (Path(model_name(config)).name or DEFAULT_CLASSIFIER_MODEL)


def model_dir(config: ModelConfig, env: Mapping[str, str] | None = None) -> Path:
    """Where the engine looks for the model, resolved against the process environment by
    default (for `vision ls`)."""
    return resolve_model_dir(config, os.environ if env is None else env)


def download_model(
    url: str,
    target: Path,
    *,
    client: httpx.Client | None = None,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
) -> Path:
    """Download a zipped model from `url` and install it as directory `target`.

    The zip is streamed to a temporary directory next to `target` (same filesystem), checked
    against the catalog's digests when `url` is a catalog entry's, unpacked there and renamed
    into place, so an interrupted download never leaves a partial model where the engine
    looks. If another process installed the model meanwhile, its copy is kept. Raises
    EngineUnavailable with where it tried and what to do.
    """
    entry = catalog.entry_for_url(url)
    if entry is None:
        # A mirror or a model of the user's own: there is no published digest to check.
        log.warning("downloading %s without a checksum check: it is not a catalog URL", url)
    try:
        install(target, SAVED_MODEL, entry.checksums if entry else (), url=url, client=client,
                max_bytes=max_bytes)
    except DownloadFailed as failed:
        hint = ("download and unpack it there by hand, or set Path in vision.yml to an "
                "existing model directory")
        if entry is not None:
            hint = (f"download {url} by hand and install it with `xmpvision models pull "
                    f"{entry.name} --file {entry.file_name}`, or unpack it into {target} by "
                    "hand, or set Path in vision.yml to an existing model directory")
        raise EngineUnavailable(
            f"error downloading tensorflow model {url} to {target}: {failed.reason}", hint=hint,
        ) from failed.__cause__
    log.info("downloaded tensorflow model %s to %s", url, target)
    return target
