"""Every default of xmpvision, defined once. Config resolution, the engines, the prompts and
the README's key table read them from here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from xmpvision import modeltypes
from xmpvision.runmodes import RunMode
from xmpvision.text.labels import NormalizeMode
from xmpvision.text.untrusted import MAX_CAPTION_CHARS

DEFAULT_OLLAMA_URI = "http://127.0.0.1:11434"
# PhotoPrism 2026's built-in Ollama model, with reasoning off (it only slows a caption down).
DEFAULT_OLLAMA_MODEL = "gemma4:latest"
DEFAULT_THINK: bool | str = False
DEFAULT_CLASSIFIER_MODEL = "nasnet"
# A prompt's hints from the photo's own metadata (a model's `Context`); keywords are the owner's
# choice to share.
ContextKind = Literal["date", "place", "keywords", "people", "vocabulary"]
DEFAULT_CONTEXT: tuple[ContextKind, ...] = ("date", "place")
# Keywords.Vocabulary: "library" (the owner's keywords the scans collected) or a file; unset,
# answers are written as the model gives them. Keywords.New: what happens to a keyword that is
# no term of the vocabulary (allow: written; review: written under <KeywordParent or AI>|new;
# deny: left out).
VOCABULARY_LIBRARY = "library"
NewKeywords = Literal["allow", "review", "deny"]
DEFAULT_NEW_KEYWORDS: NewKeywords = "allow"
REVIEW_PARENT = "AI"
REVIEW_BRANCH = "new"
DEFAULT_ENGINE = "ollama"  # a named model without an Engine

DEFAULT_CONNECT_TIMEOUT = 10.0  # seconds
DEFAULT_READ_TIMEOUT = 300.0  # a vision model on CPU can take minutes to load and answer
# Service.Deadline, the longest one request may take in all (connect and the whole answer),
# is this many read timeouts unless set: the read timeout bounds silence, not a trickle.
DEFAULT_DEADLINE_FACTOR = 3.0
# Requests in flight per service (like OLLAMA_NUM_PARALLEL): "auto" finds how many the server
# serves at once by measuring it (chain/limit.py); a number fixes it.
AUTO_PARALLEL: Literal["auto"] = "auto"
DEFAULT_PARALLEL: int | Literal["auto"] = AUTO_PARALLEL
MAX_PARALLEL = 64
# The most requests in flight `Parallel: auto` tries per service (it starts at one). Each one
# holds a decoded photo, so it also bounds the memory of a run.
AUTO_PARALLEL_MAX = 16

DEFAULT_MAX_LENGTH = MAX_CAPTION_CHARS  # caption characters (PhotoPrism's limit)
MAX_TEMPERATURE = 2.0  # PhotoPrism's cap; higher values only produce noise
# Low temperatures: labels and captions should describe, not invent.
DEFAULT_TEMPERATURE = 0.1

# Whole phrases for every engine. PhotoPrism collapses labels of non-hosted models to single
# words; that turns "Ferris Wheel" into "Wheel", and a keyword that lost its meaning is worse
# in a sidecar than a compound one.
DEFAULT_NORMALIZE: NormalizeMode = "phrase"

# Thresholds in percent, as PhotoPrism writes them; out-of-range values mean the default.
DEFAULT_CONFIDENCE = 20.0  # PhotoPrism 2026's floor
DEFAULT_TOPICALITY = 0.0


@dataclass(frozen=True)
class EngineDefaults:
    """An engine's row: where its kind is (the registry in engines/ loads it on first use), the
    provenance source of its values, and what an entry of it gets when vision.yml leaves a
    setting out. The keys of ENGINE_DEFAULTS are vision.yml's Engine values."""

    kind: str  # "module:attribute" of its EngineKind
    source: str  # a name of sources.py's priorities
    model: str
    resolution: int  # longest side (or, for a classifier, shortest side) sent, pixels
    max_labels: int
    service: bool  # reached over HTTP: Service.Uri and Service.Key defaults apply
    tagged: bool  # model names are name:tag, the tag defaulting to latest
    uri: str = ""  # Service.Uri when neither vision.yml nor `uri_env` gives one
    uri_env: str = ""  # the environment variable its own tools read the server from
    key_env: str = ""  # ... and the API key (with a `_FILE` variant naming a file)


# --- local classifiers (tensorflow, onnx) ---
# PhotoPrism 2026's ONNX labels model; xmpvision knows no download for it, so it is looked for
# at <models root>/efficientformerv2_s2/model.onnx unless ONNX.File or Path says otherwise.
DEFAULT_ONNX_MODEL = "efficientformerv2_s2"
DEFAULT_ONNX_FILE = "model.onnx"  # ONNX.File, relative to the model's directory
DEFAULT_LABEL_FILE = "labels.txt"  # LabelFile, relative to the model's directory
ClassifierLayout = Literal["NCHW", "NHWC"]
ColorOrder = Literal["RGB", "BGR"]
ResizeMode = Literal["center-crop", "stretch", "pad"]
Interpolation = Literal["nearest", "bilinear", "bicubic", "lanczos", "box", "hamming"]
# ONNX.Input: channel order NCHW unless the model's input shape says NHWC (PyTorch exports,
# PhotoPrism's models, are NCHW).
DEFAULT_ONNX_LAYOUT: ClassifierLayout = "NCHW"
DEFAULT_COLOR_ORDER: ColorOrder = "RGB"
DEFAULT_RESIZE_MODE: ResizeMode = "center-crop"
DEFAULT_CROP_RATIO = 1.0  # the crop keeps the whole short edge
DEFAULT_INTERPOLATION: Interpolation = "bilinear"
# Input.Normalization: pixels are scaled to 0..1 first, then (x - Mean) / StdDev per channel;
# the default leaves them at 0..1.
DEFAULT_NORMALIZATION_MEAN: tuple[float, ...] = (0.0, 0.0, 0.0)
DEFAULT_NORMALIZATION_STD_DEV: tuple[float, ...] = (1.0, 1.0, 1.0)
# Normalization of a TensorFlow model given by Path: NASNet's scaling to -1..1
# ((x / 255 - 0.5) / 0.5, Keras' "tf" mode).
DEFAULT_TF_NORMALIZATION_MEAN: tuple[float, ...] = (0.5, 0.5, 0.5)
DEFAULT_TF_NORMALIZATION_STD_DEV: tuple[float, ...] = (0.5, 0.5, 0.5)
# Micro-batching: photos from up to CLASSIFIER_SLOTS workers at once are collected for at most
# CLASSIFIER_BATCH_WAIT seconds, up to CLASSIFIER_MAX_BATCH images (crops), and run as one
# batch; a classifier call costs about the same for 1 image as for several on a CPU.
CLASSIFIER_SLOTS = 4
CLASSIFIER_MAX_BATCH = 32
CLASSIFIER_BATCH_WAIT = 0.01

DEFAULT_OPENAI_URI = "https://api.openai.com/v1"
DEFAULT_OPENAI_MODEL = "gpt-5-mini"  # PhotoPrism's default for its openai engine

ENGINE_DEFAULTS: dict[str, EngineDefaults] = {
    # 720 px: PhotoPrism's thumbnail size for Ollama; ~10 useful keywords per answer.
    "ollama": EngineDefaults("xmpvision.engines.ollama:KIND", "ollama",
                             DEFAULT_OLLAMA_MODEL, 720, 10, service=True, tagged=True,
                             uri=DEFAULT_OLLAMA_URI, uri_env="OLLAMA_HOST",
                             key_env="OLLAMA_API_KEY"),
    # NASNet Mobile's input; its top 5 classes, as PhotoPrism keeps.
    # (PhotoPrism's source name for classifier labels is "image".)
    "tensorflow": EngineDefaults("xmpvision.engines.tensorflow:KIND", "image",
                                 DEFAULT_CLASSIFIER_MODEL, 224, 5, service=False, tagged=False),
    # Any OpenAI-compatible server; the official client's variables.
    "openai": EngineDefaults("xmpvision.engines.openai:KIND", "openai",
                             DEFAULT_OPENAI_MODEL, 720, 10, service=True, tagged=False,
                             uri=DEFAULT_OPENAI_URI, uri_env="OPENAI_BASE_URL",
                             key_env="OPENAI_API_KEY"),
    # PhotoPrism 2026's ONNX classifiers take 224 px; top 5 classes like the TF classifier.
    "onnx": EngineDefaults("xmpvision.engines.onnx:KIND", "onnx", DEFAULT_ONNX_MODEL, 224, 5,
                           service=False, tagged=False),
}

# --- the daemon and the health monitor (vision.yml's Daemon and Health, schedule files) ---
DEFAULT_WORKER_EVERY = 15 * 60.0  # seconds between two newly-indexed passes without a watch
DEFAULT_WORKER_WATCH = True
DEFAULT_WORKER_DEBOUNCE = 30.0  # quiet seconds after the last file event before a pass
# A schedule without Models runs the types whose built-in model runs unasked (labels, caption).
DEFAULT_SCHEDULE_MODELS: tuple[str, ...] = tuple(
    t.name for t in modeltypes.TYPES if t.run is RunMode.AUTO)
# A job that could not start at its time (the daemon was busy or down) still runs this late.
DEFAULT_MISFIRE_GRACE = 3600.0

# The daemon takes a photo that does not decode and changed less than this many seconds ago
# (or twice Worker.Debounce) as still being copied in: skipped, done by a later pass.
DAEMON_SETTLE = 60.0
DEFAULT_HEALTH_INTERVAL = 60.0  # seconds between two probes of a service
DEFAULT_HEALTH_WINDOW = 20  # requests in the rolling speed window
DEFAULT_HEALTH_DRIFT = 2.0  # drifted when the window's median is below baseline / Drift
DEFAULT_HEALTH_RESTART: str | None = "systemctl restart ollama.service"
DEFAULT_HEALTH_RESTART_TIMEOUT = 120.0
DEFAULT_HEALTH_COOLDOWN = 15 * 60.0
DEFAULT_HEALTH_MAX_RESTARTS = 3  # per hour
# GPU lost: the model's share of VRAM fell below this fraction of the share it had healthy.
GPU_LOST_SHARE = 0.5
# The second probe that confirms a lost GPU follows the first this soon (at most Interval).
HEALTH_CONFIRM_DELAY = 2.0
# ... or after this many answers slower than baseline / Drift, whichever comes first.
HEALTH_CONFIRM_ANSWERS = 3
# A healthy window's median moves the stored baseline by this weight (slow learning).
BASELINE_WEIGHT = 0.2
# A probe (/api/version, /api/ps) that takes longer than this is a service that is down; it
# also bounds how long the end of a run waits for the monitor.
HEALTH_PROBE_TIMEOUT = 10.0

# --- the fallback (vision.yml's Fallback) ---
# Consecutive service failures (connect errors, timeouts, 5xx) that open an endpoint's breaker.
DEFAULT_BREAKER_FAILURES = 3
DEFAULT_BREAKER_OPEN = 60.0  # seconds it stays open before one probe, doubling while down
DEFAULT_BREAKER_OPEN_MAX = 600.0
# A photo answered by a fallback because a better model was down is redone once it is back.
DEFAULT_FALLBACK_UPGRADE = True

# --- doctor ---
# How long `doctor` waits for a model's download URL to answer (headers only).
DOWNLOAD_PROBE_TIMEOUT = 10.0
