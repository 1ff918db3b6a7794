"""The classifiers xmpvision can download, and where installed ones live.

Each entry is PhotoPrism's published download: its URL, the SHA-256 digests PhotoPrism pins
for it, and what it becomes in the models directory. Where each URL and digest is published
is listed in the README (Models). A model is installed as `<models root>/<name>`:
`$XMPVISION_MODELS/<name>`, else `$XDG_DATA_HOME/xmpvision/models/<name>`
(`~/.local/share/xmpvision/models/<name>`); an ONNX model is the file the ONNX engine looks
for there (`model.onnx`), a zip is unpacked into it. `XMPVISION_<NAME>_URL` (e.g.
`XMPVISION_NASNET_URL`) points an entry at a mirror.

Needs neither numpy nor TensorFlow, so every install can list and fetch models.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlsplit, urlunsplit

from xmpvision.config.defaults import DEFAULT_ONNX_FILE
from xmpvision.engines.downloads import Checksum, Layout

ENV_MODELS = "XMPVISION_MODELS"

PHOTOPRISM_DOWNLOADS = "https://dl.photoprism.app"


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    engine: str  # the engine that runs it
    url: str
    # Any one of them is a genuine copy: PhotoPrism re-exported its ONNX models and pinned
    # the new digests, so a mirror may still serve the earlier file.
    checksums: tuple[Checksum, ...]
    layout: Layout
    download_size: str | None = None  # as the publisher states it, for `models ls`
    default: bool = False  # its engine's default model

    @property
    def url_env(self) -> str:
        """The environment variable that points this entry at another URL."""
        return f"XMPVISION_{self.name.upper()}_URL"

    @property
    def file_name(self) -> str:
        """The name of the file to fetch by hand."""
        return urlsplit(self.url).path.rsplit("/", 1)[-1]


def _sha256(*digests: str) -> tuple[Checksum, ...]:
    return tuple(Checksum("sha256", digest) for digest in digests)


def _onnx(name: str, size: str | None, *digests: str, default: bool = False) -> CatalogEntry:
    return CatalogEntry(
        name=name, engine="onnx", url=f"{PHOTOPRISM_DOWNLOADS}/onnx/models/{name}.onnx",
        checksums=_sha256(*digests), layout=Layout("file", (DEFAULT_ONNX_FILE,)),
        download_size=size, default=default,
    )


_ENTRIES = (
    CatalogEntry(
        name="nasnet", engine="tensorflow",
        url=f"{PHOTOPRISM_DOWNLOADS}/tensorflow/nasnet.zip",
        checksums=_sha256("a0e1ad8d5a5a0ff9efc4b3ed89898bf008563ee36cacd0c804a384f8fc661588"),
        layout=Layout("zip", ("saved_model.pb", "labels.txt")), default=True,
    ),
    # The first digest of each is the one PhotoPrism's download registry pins, the second the
    # one its ONNX runtime registry pinned before.
    _onnx("efficientformerv2_s2", "50.8 MB",
          "7d6288ad89473c2ba11974c9c24a96e07c4e3ee48c531081f108a6380dc8d0ab",
          "34b3ff40a9e637cab47bd05baf4f1f10b8544b6d1ea3a152413876fbac988a64", default=True),
    _onnx("efficientformerv2_s1", "24.8 MB",
          "0462a5e756be23772c043ac3203a7b34f015694a2775aaea1cf555066ea16b8d",
          "e289689ae6ae1e32f81f0346e7e59004d4d15b4c8df6899c008ade6f826892da"),
    _onnx("repvit_m1_0", "27.4 MB",
          "5a797d2a73ae39ff953c76a2aed341cbcc94e8dfd339757edaea95e47176e593",
          "54721552c81f62e5d8067f3a0b6006c90414f079e890230c70370c0b906bba6f"),
    _onnx("efficientnet_b0", None,
          "6cc4c8008f069390a588e6c3de3ee9bfc1c61e3e2a86546015bd3bc5fa5a16c0",
          "d6e1fd53f644f738b6c939d16957112fb41d93eaf44637d6106edcd1fd46f726"),
)

CATALOG: Mapping[str, CatalogEntry] = MappingProxyType({e.name: e for e in _ENTRIES})


def find_entry(name: str) -> CatalogEntry | None:
    """The entry of that name; "RepViT-M1.0" finds repvit_m1_0, as PhotoPrism reads names."""
    key = name.strip().lower().replace("-", "_").replace(".", "_").replace(" ", "_")
    return CATALOG.get(key)


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, "", ""))


def entry_for_url(url: str) -> CatalogEntry | None:
    """The entry published at `url`; a query (PhotoPrism adds a date against stale CDN
    copies) does not make it another file."""
    wanted = _without_query(url)
    return next((e for e in _ENTRIES if _without_query(e.url) == wanted), None)


def models_root(env: Mapping[str, str]) -> Path:
    """`$XMPVISION_MODELS`, else `$XDG_DATA_HOME/xmpvision/models` (XDG's default applies)."""
    if env.get(ENV_MODELS):
        return Path(env[ENV_MODELS]).expanduser()
    data_home = env.get("XDG_DATA_HOME") or str(Path("~/.local/share").expanduser())
    return Path(data_home).expanduser() / "xmpvision" / "models"


def model_location(entry: CatalogEntry, env: Mapping[str, str] | None = None) -> Path:
    """Where the entry is (or would be) installed."""
    return models_root(os.environ if env is None else env) / entry.name


def source_url(entry: CatalogEntry, env: Mapping[str, str] | None = None) -> str:
    """The URL to fetch the entry from: its mirror variable when set, else its own."""
    return (os.environ if env is None else env).get(entry.url_env) or entry.url
