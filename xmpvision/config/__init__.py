"""vision.yml: models, loading, defaults."""

from xmpvision.config.builtin import builtin_model, ollama_host
from xmpvision.config.loader import (
    LoadedConfig,
    find_config,
    load_config,
    parse_config,
    parse_config_with_warnings,
)
from xmpvision.config.models import (
    SUPPORTED_TYPES,
    ModelConfig,
    ModelOptions,
    ServiceConfig,
    SidecarConfig,
    Thresholds,
    VisionConfig,
)

__all__ = [
    "SUPPORTED_TYPES",
    "LoadedConfig",
    "ModelConfig",
    "ModelOptions",
    "ServiceConfig",
    "SidecarConfig",
    "Thresholds",
    "VisionConfig",
    "builtin_model",
    "find_config",
    "load_config",
    "ollama_host",
    "parse_config",
    "parse_config_with_warnings",
]
