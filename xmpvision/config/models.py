"""vision.yml as typed pydantic models, with PhotoPrism's CamelCase keys.

One schema is the single source for validation, the allowed values in error messages, the
warnings about keys xmpvision accepts but does not use, and the README reference (a test
checks the README's key table against it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_pascal
from pydantic.fields import FieldInfo

from xmpvision import modeltypes
from xmpvision.config.daemon import DaemonConfig, FallbackConfig, HealthConfig
from xmpvision.config.defaults import (
    AUTO_PARALLEL,
    AUTO_PARALLEL_MAX,
    DEFAULT_CONFIDENCE,
    DEFAULT_CONTEXT,
    DEFAULT_ENGINE,
    DEFAULT_MAX_LENGTH,
    DEFAULT_NEW_KEYWORDS,
    DEFAULT_NORMALIZE,
    DEFAULT_PARALLEL,
    DEFAULT_TOPICALITY,
    ENGINE_DEFAULTS,
    MAX_PARALLEL,
    MAX_TEMPERATURE,
    ClassifierLayout,
    ColorOrder,
    ContextKind,
    EngineDefaults,
    Interpolation,
    NewKeywords,
    ResizeMode,
)
from xmpvision.config.duration import check_keep_alive, parse_duration
from xmpvision.runmodes import ALLOWED_RUN_VALUES, RunMode, parse_run_mode
from xmpvision.text.labels import NormalizeMode
from xmpvision.text.languages import parse_language_tag

# The types a vision.yml may name, from the model-type table (modeltypes.py).
MODEL_TYPES: tuple[str, ...] = modeltypes.MODEL_TYPES
# The types xmpvision runs; others are accepted (PhotoPrism configs carry them) and ignored.
SUPPORTED_TYPES: tuple[str, ...] = modeltypes.OUTPUT_TYPES
# What a `Type: generate` model answers in one request (narrowed by its `Types`).
GENERATED_TYPES: tuple[str, ...] = SUPPORTED_TYPES
ENGINES: tuple[str, ...] = tuple(ENGINE_DEFAULTS)

ModelType = modeltypes.ModelTypeName
OutputType = modeltypes.OutputTypeName
EngineName = str  # one of ENGINES, checked by _engine

# How xmpvision treats a PhotoPrism key it accepts (a field's json_schema_extra). Keys without
# a mark are used. UNUSED: accepted and ignored, with a warning. OPENAI: meant for PhotoPrism's
# OpenAI engine: kept in the model for such an engine, ignored (with a warning) by Ollama.
UNUSED: dict[str, Any] = {"xmpvision": "unused"}
OPENAI: dict[str, Any] = {"xmpvision": "openai"}

# `Normalize` as written: PhotoPrism's false (and the usual spellings of "off") means "off".
NORMALIZE_VALUES: tuple[str, ...] = ("single-word", "phrase", "false")
_NORMALIZE_OFF = ("false", "off", "none", "no", "disabled")


def key_use(field: FieldInfo) -> str | None:
    """"unused", "openai" or None (used): how xmpvision treats a key, from its field's mark."""
    extra = field.json_schema_extra
    use = extra.get("xmpvision") if isinstance(extra, dict) else None
    return use if isinstance(use, str) else None


def nested_section(annotation: object) -> type[BaseModel] | None:
    """The section class a field holds (through Optional, list and Annotated), or None."""
    if isinstance(annotation, type):
        return annotation if issubclass(annotation, BaseModel) else None
    for arg in get_args(annotation):
        found = nested_section(arg)
        if found is not None:
            return found
    return None


def _engine(value: object) -> object:
    # PhotoPrism writes its classifier's engine as "local" too.
    if isinstance(value, str):
        folded = value.strip().lower()
        folded = "tensorflow" if folded == "local" else folded
        if folded not in ENGINES:
            raise ValueError(f"invalid Engine {value!r}; allowed: {', '.join(ENGINES)}")
        return folded
    return value


def _run_mode(value: object) -> RunMode:
    if isinstance(value, RunMode):
        return value
    if value is not None and not isinstance(value, str):
        raise ValueError(f"expected a string; allowed: {', '.join(ALLOWED_RUN_VALUES)}")
    mode = parse_run_mode(value)
    if mode is None:
        raise ValueError(
            f"invalid Run value {value!r}; allowed: {', '.join(ALLOWED_RUN_VALUES)}"
        )
    return mode


_THINK_LEVELS = ("low", "medium", "high", "max")  # Ollama's levels (api.ThinkValue)


def _think(value: object) -> bool | str | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if isinstance(value, str) and value.strip().lower() in _THINK_LEVELS:
        return value.strip().lower()
    raise ValueError(f"invalid Think value {value!r}; allowed: true, false, low, medium, high, max")


def _normalize(value: object) -> NormalizeMode:
    if value is None:
        return DEFAULT_NORMALIZE
    if value is False:
        return "off"
    if isinstance(value, str):
        folded = value.strip().lower().replace("_", "-").replace(" ", "-")
        if not folded:
            return DEFAULT_NORMALIZE
        if folded in _NORMALIZE_OFF:
            return "off"
        if folded == "single-word":
            return "single-word"
        if folded == "phrase":
            return "phrase"
    raise ValueError(f"invalid Normalize value {value!r}; allowed: {', '.join(NORMALIZE_VALUES)}")


def _parallel(value: object) -> object:
    """"auto" (any case), or a whole number of requests in flight (also written "4")."""
    if isinstance(value, str):
        folded = value.strip().lower()
        if folded == AUTO_PARALLEL:
            return AUTO_PARALLEL
        value = int(folded) if folded.isdigit() else value
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_PARALLEL:
        return value
    raise ValueError(f"invalid Parallel value {value!r}; allowed: auto, or a number from 1 to "
                     f"{MAX_PARALLEL}")


def _duration(value: object) -> float | None:
    return None if value is None else parse_duration(value)


RunField = Annotated[RunMode, BeforeValidator(_run_mode)]
Duration = Annotated[float | None, BeforeValidator(_duration)]
ThinkField = Annotated[bool | str | None, BeforeValidator(_think)]
NormalizeField = Annotated[NormalizeMode, BeforeValidator(_normalize)]
EngineField = Annotated[EngineName | None, BeforeValidator(_engine)]
ParallelField = Annotated[Literal["auto"] | int, BeforeValidator(_parallel)]


class _Section(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_pascal,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


class EndpointConfig(_Section):
    """One of several servers answering for a model (`Service.Endpoints`, or a `Uri` list)."""

    uri: str
    parallel: ParallelField | None = None  # else Service.Parallel
    key: SecretStr | None = None  # else Service.Key
    key_file: Path | None = None


class ServiceConfig(_Section):
    """Where and how to reach a model's service (Ollama, an OpenAI-compatible server)."""

    uri: str | None = None  # PhotoPrism's form with the API path (.../api/generate) is fine
    # Several servers for one model: each gets its own Parallel slots; work goes where
    # capacity is free. `Uri: [a, b]` is the short form.
    endpoints: list[EndpointConfig] | None = None
    # Each engine chooses its own request method, image encoding and formats.
    method: str | None = Field(default=None, json_schema_extra=UNUSED)
    file_scheme: str | None = Field(default=None, json_schema_extra=UNUSED)
    request_format: str | None = Field(default=None, json_schema_extra=UNUSED)
    response_format: str | None = Field(default=None, json_schema_extra=UNUSED)
    org: str | None = Field(default=None, json_schema_extra=OPENAI)
    project: str | None = Field(default=None, json_schema_extra=OPENAI)
    tier: str | None = Field(default=None, json_schema_extra=OPENAI)
    # PhotoPrism's override of the model name sent to the service (Model/Name stay the
    # entry's own name).
    model: str | None = None
    key: SecretStr | None = None
    key_file: Path | None = None
    username: str | None = None
    password: SecretStr | None = None
    timeout: Duration = None  # read timeout in seconds; the engine has its own default
    connect_timeout: Duration = None
    # The longest one request may take in all; the engine derives it from `timeout` if unset.
    deadline: Duration = None
    parallel: ParallelField = DEFAULT_PARALLEL
    think: ThinkField = None
    keep_alive: Annotated[str | int | float | None, BeforeValidator(check_keep_alive)] = None
    disabled: bool = False

    @property
    def auto_parallel(self) -> bool:
        """`Parallel: auto`: the requests in flight are found by measuring (chain/limit.py)."""
        return self.parallel == AUTO_PARALLEL

    @property
    def most_parallel(self) -> int:
        """The most requests in flight: the number set, or the most `auto` tries."""
        return AUTO_PARALLEL_MAX if self.parallel == AUTO_PARALLEL else int(self.parallel)

    @model_validator(mode="before")
    @classmethod
    def _uri_list(cls, data: Any) -> Any:
        # `Uri: [a, b]` means one endpoint per item.
        if isinstance(data, dict):
            key = "Uri" if "Uri" in data else "uri" if "uri" in data else None
            if key is not None and isinstance(data[key], list):
                data = dict(data)
                listed = [{"Uri": uri} for uri in data.pop(key)]
                data["Endpoints"] = [*listed, *(data.get("Endpoints") or [])]
        return data


class ModelOptions(_Section):
    """Model options: Ollama's, sent in snake_case (Temperature -> temperature), and
    PhotoPrism's OpenAI ones, kept but not sent to Ollama."""

    temperature: float | None = Field(default=None, ge=0)
    top_k: int | None = None
    top_p: float | None = None
    min_p: float | None = None
    typical_p: float | None = None
    seed: int | None = None
    num_keep: int | None = None
    num_predict: int | None = None
    num_ctx: int | None = None
    num_batch: int | None = None
    num_gpu: int | None = None
    main_gpu: int | None = None
    num_thread: int | None = None
    repeat_last_n: int | None = None
    repeat_penalty: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    # Options current Ollama no longer has (it only logs them): accepted, warned as unused.
    penalize_newline: bool | None = Field(default=None, json_schema_extra=UNUSED)
    mirostat: int | None = Field(default=None, json_schema_extra=UNUSED)
    mirostat_tau: float | None = Field(default=None, json_schema_extra=UNUSED)
    mirostat_eta: float | None = Field(default=None, json_schema_extra=UNUSED)
    tfs_z: float | None = Field(default=None, json_schema_extra=UNUSED)
    stop: list[str] | None = None
    numa: bool | None = Field(default=None, json_schema_extra=UNUSED)
    use_mmap: bool | None = None
    use_mlock: bool | None = Field(default=None, json_schema_extra=UNUSED)
    low_vram: bool | None = Field(default=None, json_schema_extra=UNUSED)
    vocab_only: bool | None = Field(default=None, json_schema_extra=UNUSED)
    max_output_tokens: int | None = Field(default=None, ge=1, json_schema_extra=OPENAI)
    detail: str | None = Field(default=None, json_schema_extra=OPENAI)
    force_json: bool | None = Field(default=None, json_schema_extra=OPENAI)
    schema_version: str | None = Field(default=None, json_schema_extra=OPENAI)
    combine_outputs: str | bool | None = Field(default=None, json_schema_extra=OPENAI)

    @field_validator("temperature")
    @classmethod
    def _cap_temperature(cls, value: float | None) -> float | None:
        return None if value is None else min(value, MAX_TEMPERATURE)

    def maps_to_ollama(self, name: str) -> bool:
        """True when an OpenAI option stands in for an Ollama one: MaxOutputTokens is
        num_predict when NumPredict is not set."""
        return name == "max_output_tokens" and self.num_predict is None and (
            self.max_output_tokens is not None
        )

    def snake_case(self) -> dict[str, Any]:
        """The options as Ollama's API names them (Temperature -> temperature), unset keys
        and OpenAI options left out."""
        fields = type(self).model_fields
        options = {
            name: value
            for name, value in self.model_dump(exclude_none=True, by_alias=False).items()
            if key_use(fields[name]) is None
        }
        if self.maps_to_ollama("max_output_tokens"):
            options["num_predict"] = self.max_output_tokens
        return options


# PhotoPrism's own configs write Resize.Mode `cover` (scale to cover, then crop the centre)
# and `contain` (fit inside, pad), and Interpolation `linear`.
_RESIZE_ALIASES = {"cover": "center-crop", "crop": "center-crop", "contain": "pad",
                   "fit": "pad", "linear": "bilinear"}


def _folded(upper: bool) -> Any:
    """A validator that reads an enumerated value case-insensitively ("nchw", "Center_Crop")."""

    def fold(value: object) -> object:
        if not isinstance(value, str):
            return value
        text = value.strip().replace("_", "-").replace(" ", "-")
        return text.upper() if upper else _RESIZE_ALIASES.get(text.lower(), text.lower())

    return BeforeValidator(fold)


class OnnxNormalization(_Section):
    """Per-channel input normalisation of a classifier: pixels scaled to 0..1, then
    (x - Mean) / StdDev, one value per channel in the input's colour order (or one for all).

    PhotoPrism writes these on the 0..255 scale (Mean 123.675); a value above 1 cannot be on
    the 0..1 scale, so such a pair is divided by 255, which is the same transform."""

    mean: list[float] | None = None
    std_dev: list[float] | None = None

    @field_validator("mean", "std_dev", mode="before")
    @classmethod
    def _one_for_all(cls, value: object) -> object:
        # `Mean: 0.5` is one value for all channels, as `[0.5]` is.
        return [value] if isinstance(value, int | float) and not isinstance(value, bool) else value

    @field_validator("mean", "std_dev")
    @classmethod
    def _three_or_one(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and len(value) not in (1, 3):
            raise ValueError("give one value per channel (3) or one for all")
        return value

    @field_validator("std_dev")
    @classmethod
    def _nonzero(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and any(v == 0 for v in value):
            raise ValueError("StdDev must not be 0")
        return value

    @model_validator(mode="after")
    def _unit_scale(self) -> OnnxNormalization:
        values = [*(self.mean or ()), *(self.std_dev or ())]
        if not any(abs(v) > 1 for v in values):
            return self
        scaled = {name: [v / 255 for v in value] for name, value in
                  (("mean", self.mean), ("std_dev", self.std_dev)) if value is not None}
        return self.model_copy(update=scaled)


class OnnxResize(_Section):
    """How a photo is brought to the input size: `center-crop` (short edge scaled to
    ShortEdge, or to the input size / CropRatio; crops of the input's size taken from it),
    `stretch` (the whole photo scaled to the input size) or `pad` (fitted inside it, black
    borders)."""

    mode: Annotated[ResizeMode | None, _folded(upper=False)] = None
    short_edge: int | None = Field(default=None, ge=16, le=4096)
    crop_ratio: float | None = Field(default=None, gt=0, le=1)
    interpolation: Annotated[Interpolation | None, _folded(upper=False)] = None


class OnnxInput(_Section):
    width: int | None = Field(default=None, ge=16, le=4096)
    height: int | None = Field(default=None, ge=16, le=4096)
    layout: Annotated[ClassifierLayout | None, _folded(upper=True)] = None
    color_order: Annotated[ColorOrder | None, _folded(upper=True)] = None
    normalization: OnnxNormalization | None = None
    resize: OnnxResize | None = None
    # The input's name: xmpvision feeds a classifier's only input whatever its name.
    name: str | None = Field(default=None, json_schema_extra=UNUSED)


class OnnxOutput(_Section):
    logits: bool | None = None  # true: the output is logits, softmax is applied
    # The output's name and shape: read from the model itself.
    name: str | None = Field(default=None, json_schema_extra=UNUSED)
    width: int | None = Field(default=None, json_schema_extra=UNUSED)
    count: int | None = Field(default=None, json_schema_extra=UNUSED)


class OnnxConfig(_Section):
    """PhotoPrism 2026's ONNX classifier settings (Engine onnx)."""

    file: str | None = None
    # Where PhotoPrism got the model and under which terms; it is not fetched from there.
    # (Any: a digest of digits only reads as a number in YAML; the value is not used.)
    source: Any = Field(default=None, json_schema_extra=UNUSED)
    sha256: Any = Field(default=None, alias="SHA256", json_schema_extra=UNUSED)
    license: Any = Field(default=None, json_schema_extra=UNUSED)
    quantization: Any = Field(default=None, json_schema_extra=UNUSED)
    input: OnnxInput | None = None
    output: OnnxOutput | None = None


class TensorFlowInterval(_Section):
    """The value range one channel is scaled to (PhotoPrism: pixel 0..1 -> Start..End)."""

    start: float = 0.0
    end: float = 1.0
    mean: float | None = Field(default=None, json_schema_extra=UNUSED)
    std_dev: float | None = Field(default=None, json_schema_extra=UNUSED)


class TensorFlowInput(_Section):
    # Width/Height give the input size, Intervals the scaling; the rest describes the graph,
    # which xmpvision reads from the model itself.
    name: str | None = Field(default=None, json_schema_extra=UNUSED)
    intervals: list[TensorFlowInterval] | None = None
    resize_operation: str | None = Field(default=None, json_schema_extra=UNUSED)
    color_channel_order: str | None = Field(default=None, json_schema_extra=UNUSED)
    index: int | None = Field(default=None, json_schema_extra=UNUSED)
    height: int | None = Field(default=None, ge=16, le=4096)
    width: int | None = Field(default=None, ge=16, le=4096)
    shape: list[str] | None = Field(default=None, json_schema_extra=UNUSED)

    def normalization(self) -> OnnxNormalization | None:
        """The Intervals as Mean/StdDev on pixels scaled to 0..1 (one per channel)."""
        if not self.intervals or any(i.end == i.start for i in self.intervals):
            return None
        return OnnxNormalization(
            mean=[-i.start / (i.end - i.start) for i in self.intervals],
            std_dev=[1 / (i.end - i.start) for i in self.intervals])


class TensorFlowOutput(_Section):
    name: str | None = Field(default=None, json_schema_extra=UNUSED)
    index: int | None = Field(default=None, json_schema_extra=UNUSED)
    outputs: int | None = Field(default=None, json_schema_extra=UNUSED)
    logits: bool | None = Field(default=None, json_schema_extra=UNUSED)


class TensorFlowConfig(_Section):
    """PhotoPrism's TensorFlow block (written by `photoprism vision save` for every
    classifier): its input size and scaling are used for a TensorFlow model of one's own."""

    tags: list[str] | None = Field(default=None, json_schema_extra=UNUSED)
    input: TensorFlowInput | None = None
    output: TensorFlowOutput | None = None


class ModelConfig(_Section):
    """One entry of `Models`."""

    type: ModelType
    default: bool = False
    model: str | None = None
    name: str | None = None
    version: str | None = None
    engine: EngineField = None
    run: RunField = RunMode.AUTO
    system: str | None = None
    prompt: str | None = None
    language: str | None = None  # BCP-47 tag; asks the model to answer in that language
    format: str | None = None
    schema_: dict[str, Any] | str | None = Field(default=None, alias="Schema")
    schema_file: Path | None = None
    resolution: int | None = Field(default=None, ge=32, le=4096)
    options: ModelOptions = Field(default_factory=ModelOptions)
    service: ServiceConfig = Field(default_factory=ServiceConfig)
    path: str | None = None
    disabled: bool = False
    max_labels: int | None = Field(default=None, ge=1, le=100)
    max_length: int | None = Field(default=None, ge=16, le=65536)
    # How label names are rewritten (labels.normalize_labels' mode).
    normalize_mode: NormalizeField = Field(default=DEFAULT_NORMALIZE, alias="Normalize")
    # Type generate: the types its one request answers (default: all it can).
    types: list[OutputType] | None = None
    # Hints from the photo's own metadata given to the model: capture date, a place name
    # from GPS, the owner's keywords and title.
    context: list[ContextKind] = Field(default_factory=lambda: list(DEFAULT_CONTEXT))
    # PhotoPrism 2026's ONNX classifier settings (Engine onnx), and a classifier's class
    # names (onnx and tensorflow; relative to the model's directory).
    onnx: OnnxConfig | None = Field(default=None, alias="ONNX")
    label_file: str | None = None
    # The input scaling of a TensorFlow model given by Path (ONNX models: ONNX.Input).
    normalization: OnnxNormalization | None = None
    tensorflow: TensorFlowConfig | None = Field(default=None, alias="TensorFlow")
    # PhotoPrism 2025's SavedModel tags: xmpvision loads a model's serving graph whatever
    # its tags.
    tags: list[str] | None = Field(default=None, json_schema_extra=UNUSED)
    # PhotoPrism's class ordering and NSFW classifier settings; xmpvision uses neither.
    canonical_order: Any = Field(default=None, json_schema_extra=UNUSED)
    reduction: Any = Field(default=None, json_schema_extra=UNUSED)
    unsafe_class_index: int | None = Field(default=None, json_schema_extra=UNUSED)
    neutral_class_index: int | None = Field(default=None, json_schema_extra=UNUSED)
    default_threshold: float | None = Field(default=None, json_schema_extra=UNUSED)
    # A built-in model appended for a type the file does not configure: best effort, left
    # out of a run (said once) when it cannot run here. Not a key: nobody writes it.
    _implicit: bool = PrivateAttr(default=False)

    @property
    def implicit(self) -> bool:
        return self._implicit

    def as_implicit(self) -> ModelConfig:
        """This entry marked as an implicit default."""
        copy = self.model_copy()
        copy._implicit = True
        return copy

    @field_validator("language")
    @classmethod
    def _language_tag(cls, value: str | None) -> str | None:
        return None if value is None else parse_language_tag(value)

    @property
    def enabled(self) -> bool:
        return not (self.disabled or self.run is RunMode.NEVER or self.service.disabled)

    @property
    def model_ref(self) -> str:
        """The model as its engine names it (Ollama's name:tag once the config is loaded)."""
        return self.model or self.name or ""

    @property
    def _defaults(self) -> EngineDefaults:
        # An entry without a known engine never runs; the vision model's defaults describe it.
        return ENGINE_DEFAULTS.get(self.engine or "", ENGINE_DEFAULTS[DEFAULT_ENGINE])

    @property
    def image_size(self) -> int:
        """`Resolution`, else the engine's default."""
        return self.resolution or self._defaults.resolution

    @property
    def label_limit(self) -> int:
        """`MaxLabels`, else the engine's default."""
        return self.max_labels or self._defaults.max_labels

    def endpoint_models(self) -> list[ModelConfig]:
        """The entry once per endpoint (itself when it has one): each with that server's Uri,
        Parallel and Key."""
        service = self.service
        if not service.endpoints:
            return [self]
        return [
            self.model_copy(update={"service": service.model_copy(update={
                "uri": endpoint.uri, "parallel": endpoint.parallel or service.parallel,
                "key": endpoint.key or service.key, "endpoints": None,
            })})
            for endpoint in service.endpoints
        ]

    @property
    def caption_limit(self) -> int:
        return self.max_length or DEFAULT_MAX_LENGTH


class Thresholds(_Section):
    """Global label thresholds, in percent as in PhotoPrism."""

    confidence: float = DEFAULT_CONFIDENCE
    topicality: float = DEFAULT_TOPICALITY
    # PhotoPrism's NSFW detection thresholds; xmpvision does not detect NSFW content.
    nsfw: float | None = Field(default=None, alias="NSFW", json_schema_extra=UNUSED)
    nsfw_upload: float | None = Field(default=None, alias="NSFWUpload", json_schema_extra=UNUSED)
    nsfw_index: float | None = Field(default=None, alias="NSFWIndex", json_schema_extra=UNUSED)

    # PhotoPrism treats out-of-range values as "use the default" rather than an error.
    @field_validator("confidence")
    @classmethod
    def _confidence_default(cls, value: float) -> float:
        return DEFAULT_CONFIDENCE if not 0 < value <= 100 else value

    @field_validator("topicality")
    @classmethod
    def _topicality_default(cls, value: float) -> float:
        return DEFAULT_TOPICALITY if not 0 <= value <= 100 else value


class SidecarConfig(_Section):
    """How sidecars are named when none exists yet, and where our keywords go."""

    naming: Literal["full", "base"] = "full"
    # "AI": our keywords nest as AI|Dog in lr:hierarchicalSubject (AI/Dog in digiKam:TagsList)
    # while dc:subject keeps Dog, so Lightroom and digiKam users keep them apart from theirs.
    keyword_parent: str | None = None


class KeywordsConfig(_Section):
    """The owner's vocabulary, which our keywords are folded onto (`Keywords`)."""

    vocabulary: str | None = None  # "library", or a keyword list file
    synonyms: Path | None = None  # lines "term, synonym, synonym"
    new: NewKeywords = DEFAULT_NEW_KEYWORDS


class VisionConfig(_Section):
    """The whole vision.yml."""

    models: list[ModelConfig] = Field(default_factory=list)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    sidecar: SidecarConfig = Field(default_factory=SidecarConfig)
    keywords: KeywordsConfig = Field(default_factory=KeywordsConfig)
    # The daemon's newly-indexed worker, and the Ollama health monitor of every long run.
    daemon: DaemonConfig = Field(default_factory=DaemonConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    # Circuit breakers per server endpoint, and upgrading what a fallback answered.
    fallback: FallbackConfig = Field(default_factory=FallbackConfig)


def allowed_keys(model: type[BaseModel]) -> list[str]:
    """The keys a section accepts, as they are written in vision.yml."""
    return [field.alias or name for name, field in model.model_fields.items()]
