"""vision.yml as typed pydantic models, with PhotoPrism's CamelCase keys.

One schema is the single source for validation, the allowed values in error messages and the
README reference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
)
from pydantic.alias_generators import to_pascal

from xmpvision.config.defaults import (
    DEFAULT_CONFIDENCE,
    DEFAULT_ENGINE,
    DEFAULT_MAX_LENGTH,
    DEFAULT_PARALLEL,
    DEFAULT_TOPICALITY,
    ENGINE_DEFAULTS,
    MAX_PARALLEL,
    MAX_TEMPERATURE,
    EngineDefaults,
)
from xmpvision.config.duration import parse_duration
from xmpvision.runmodes import ALLOWED_RUN_VALUES, RunMode, parse_run_mode
from xmpvision.text.languages import parse_language_tag

MODEL_TYPES: tuple[str, ...] = ("labels", "caption", "nsfw", "face", "generate")
# The types xmpvision runs; others are accepted (PhotoPrism configs carry them) and ignored.
SUPPORTED_TYPES: tuple[str, ...] = ("labels", "caption")
ENGINES: tuple[str, ...] = tuple(ENGINE_DEFAULTS)

ModelType = Literal["labels", "caption", "nsfw", "face", "generate"]
EngineName = Literal["ollama", "tensorflow"]



def _engine(value: object) -> object:
    # PhotoPrism writes its classifier's engine as "local" too.
    if isinstance(value, str):
        folded = value.strip().lower()
        return "tensorflow" if folded == "local" else folded
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


_THINK_LEVELS = ("low", "medium", "high")


def _think(value: object) -> bool | str | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if isinstance(value, str) and value.strip().lower() in _THINK_LEVELS:
        return value.strip().lower()
    raise ValueError(f"invalid Think value {value!r}; allowed: true, false, low, medium, high")


def _duration(value: object) -> float | None:
    return None if value is None else parse_duration(value)


RunField = Annotated[RunMode, BeforeValidator(_run_mode)]
Duration = Annotated[float | None, BeforeValidator(_duration)]
ThinkField = Annotated[bool | str | None, BeforeValidator(_think)]
EngineField = Annotated[EngineName | None, BeforeValidator(_engine)]


class _Section(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_pascal,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


class ServiceConfig(_Section):
    """Where and how to reach a model's service (Ollama)."""

    uri: str | None = None
    method: str | None = None
    key: SecretStr | None = None
    key_file: Path | None = None
    username: str | None = None
    password: SecretStr | None = None
    timeout: Duration = None  # read timeout in seconds; the engine has its own default
    connect_timeout: Duration = None
    parallel: int = Field(default=DEFAULT_PARALLEL, ge=1, le=MAX_PARALLEL)
    think: ThinkField = None
    keep_alive: str | int | None = None
    disabled: bool = False


class ModelOptions(_Section):
    """Ollama model options; sent in snake_case (Temperature -> temperature)."""

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
    penalize_newline: bool | None = None
    mirostat: int | None = None
    mirostat_tau: float | None = None
    mirostat_eta: float | None = None
    tfs_z: float | None = None
    stop: list[str] | None = None
    numa: bool | None = None
    use_mmap: bool | None = None
    use_mlock: bool | None = None
    low_vram: bool | None = None

    @field_validator("temperature")
    @classmethod
    def _cap_temperature(cls, value: float | None) -> float | None:
        return None if value is None else min(value, MAX_TEMPERATURE)

    def snake_case(self) -> dict[str, Any]:
        """The options as Ollama's API names them (Temperature -> temperature), unset keys
        left out."""
        return self.model_dump(exclude_none=True, by_alias=False)


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

    @property
    def caption_limit(self) -> int:
        return self.max_length or DEFAULT_MAX_LENGTH


class Thresholds(_Section):
    """Global label thresholds, in percent as in PhotoPrism."""

    confidence: float = DEFAULT_CONFIDENCE
    topicality: float = DEFAULT_TOPICALITY

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
    """How sidecars are named when none exists yet."""

    naming: Literal["full", "base"] = "full"


class VisionConfig(_Section):
    """The whole vision.yml."""

    models: list[ModelConfig] = Field(default_factory=list)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    sidecar: SidecarConfig = Field(default_factory=SidecarConfig)


def allowed_keys(model: type[BaseModel]) -> list[str]:
    """The keys a section accepts, as they are written in vision.yml."""
    return [field.alias or name for name, field in model.model_fields.items()]
