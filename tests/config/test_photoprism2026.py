"""PhotoPrism 2026 vision.yml files load: its new keys are accepted, the unused ones warned
about once per occurrence, the Ollama ones sent."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xmpvision.cli import app
from xmpvision.config import load_config, parse_config, parse_config_with_warnings
from xmpvision.engines.ollama import effective_options, endpoint
from xmpvision.errors import ConfigError
from xmpvision.runmodes import RunMode

PHOTOPRISM_2026 = textwrap.dedent(
    """\
    Models:
      - Type: labels
        Name: nasnet
        Run: auto
      - Type: labels
        Model: qwen3.5:4b
        Engine: ollama
        Run: newly-indexed
        Normalize: single-word
        Prompt: "Return AT MOST 5 labels as JSON."
        Options: {Seed: 3407, Temperature: 0.01, TopK: 40, TopP: 0.9, MinP: 0.05, RepeatLastN: 128, RepeatPenalty: 1.2, NumPredict: 512, MaxOutputTokens: 1024}
        Service: {Uri: "http://ollama:11434/api/generate", Method: POST, FileScheme: base64, Think: "false"}
      - Type: caption
        Model: gemma4:latest
        Engine: ollama
        Run: newly-indexed
        Service: {Uri: "http://ollama:11434/api/generate"}
      - Type: nsfw
        Default: true
    Thresholds: {Confidence: 20, Topicality: 0, NSFW: 75}
    """  # noqa: E501 - PhotoPrism's example as it is written
)

# Where each unused key of the example is, and what is said about it.
EXPECTED_WARNINGS = [
    "f.yml:11:134: Models[1].Options.MaxOutputTokens: PhotoPrism key MaxOutputTokens is not "
    "used by xmpvision",
    "f.yml:12:56: Models[1].Service.Method: PhotoPrism key Method is not used by xmpvision",
    "f.yml:12:70: Models[1].Service.FileScheme: PhotoPrism key FileScheme is not used by "
    "xmpvision",
    "f.yml:20:45: Thresholds.NSFW: PhotoPrism key NSFW is not used by xmpvision",
]


def test_photoprism_2026_example_loads() -> None:
    config, warnings = parse_config_with_warnings(PHOTOPRISM_2026, "f.yml")
    nasnet, qwen, gemma, nsfw = config.models[:4]
    assert (nasnet.engine, nasnet.model, nasnet.run) == ("tensorflow", "nasnet", RunMode.AUTO)
    assert (qwen.engine, qwen.model) == ("ollama", "qwen3.5:4b")
    assert qwen.normalize_mode == "single-word"
    assert qwen.service.think is False
    assert gemma.normalize_mode == "phrase"  # xmpvision's default, for every engine
    assert nsfw.type == "nsfw" and nsfw.default
    assert config.thresholds.confidence == 20
    assert warnings == EXPECTED_WARNINGS


def test_uri_with_api_path_reaches_the_same_server() -> None:
    config = parse_config(PHOTOPRISM_2026)
    assert config.models[1].service.uri == "http://ollama:11434/api/generate"
    assert endpoint(config.models[1]) == "POST http://ollama:11434/api/generate"
    assert endpoint(config.models[2]) == "POST http://ollama:11434/api/generate"


def test_ollama_options_are_sent_and_openai_ones_kept() -> None:
    qwen = parse_config(PHOTOPRISM_2026).models[1]
    assert qwen.options.max_output_tokens == 1024  # kept for an engine that reads it
    sent = effective_options(qwen)
    assert sent["num_predict"] == 512 and "max_output_tokens" not in sent
    assert {"min_p": 0.05, "repeat_last_n": 128, "seed": 3407}.items() <= sent.items()


def test_max_output_tokens_is_num_predict_for_ollama() -> None:
    config, warnings = parse_config_with_warnings(
        "Models:\n  - Type: caption\n    Model: llava\n    Options: {MaxOutputTokens: 300}\n"
    )
    assert config.models[0].options.snake_case() == {"num_predict": 300}
    assert warnings == []


@pytest.mark.parametrize(
    ("key", "value"),
    [("Detail", "low"), ("ForceJson", "true"), ("SchemaVersion", "v2"),
     ("CombineOutputs", "merge")],
)  # fmt: skip
def test_openai_options_warn_for_ollama(key: str, value: str) -> None:
    config, warnings = parse_config_with_warnings(
        f"Models:\n  - Type: caption\n    Model: llava\n    Options:\n      {key}: {value}\n",
        "v.yml",
    )
    assert config.models[0].options.snake_case() == {}
    assert warnings == [
        f"v.yml:5:7: Models[0].Options.{key}: PhotoPrism key {key} is not used by xmpvision"
    ]


def test_ollama_runner_options_are_sent_without_warning() -> None:
    # The options current Ollama has (those it dropped: tests/config/test_ollama_keys.py).
    text = (
        "Models:\n  - Type: caption\n    Model: llava\n    Options:\n"
        "      {NumThread: 4, NumBatch: 256, MainGpu: 0, UseMmap: true, TypicalP: 0.9,\n"
        "       NumKeep: 4, PresencePenalty: 0.5, FrequencyPenalty: 0.5}\n"
    )
    config, warnings = parse_config_with_warnings(text)
    assert warnings == []
    assert config.models[0].options.snake_case() == {
        "num_thread": 4, "num_batch": 256, "main_gpu": 0, "use_mmap": True, "typical_p": 0.9,
        "num_keep": 4, "presence_penalty": 0.5, "frequency_penalty": 0.5,
    }


def test_openai_service_keys_kept_and_warned_for_ollama() -> None:
    config, warnings = parse_config_with_warnings(
        "Models:\n  - Type: caption\n    Model: llava\n"
        "    Service: {Org: org-1, Project: proj-1, Tier: flex, RequestFormat: ollama,\n"
        "              ResponseFormat: ollama}\n",
        "v.yml",
    )
    service = config.models[0].service
    assert (service.org, service.project, service.tier) == ("org-1", "proj-1", "flex")
    assert [w.split(": ")[1] for w in warnings] == [
        f"Models[0].Service.{k}" for k in ("Org", "Project", "Tier", "RequestFormat",
                                          "ResponseFormat")
    ]


def test_onnx_and_classifier_keys_accepted_with_one_warning_each() -> None:
    text = textwrap.dedent(
        """\
        Models:
          - Type: nsfw
            Name: nsfw-onnx
            Engine: tensorflow
            LabelFile: labels.txt
            CanonicalOrder: [drawing, hentai, neutral, porn, sexy]
            Reduction: softmax
            UnsafeClassIndex: 3
            NeutralClassIndex: 2
            DefaultThreshold: 0.5
            ONNX:
              File: model.onnx
              Input:
                Width: 224
                Height: 224
                Layout: NHWC
                ColorOrder: RGB
                Normalization: {Mean: [0.485, 0.456, 0.406], StdDev: [0.229, 0.224, 0.225]}
                Resize: {Mode: cover, ShortEdge: 256, CropRatio: 0.875, Interpolation: bilinear}
              Output: {Logits: true}
        Thresholds: {NSFWUpload: 80, NSFWIndex: 60}
        """
    )
    config, warnings = parse_config_with_warnings(text, "v.yml")
    nsfw = config.models[0]
    assert nsfw.onnx is not None and nsfw.onnx.input is not None
    assert nsfw.onnx.input.resize is not None and nsfw.onnx.input.resize.short_edge == 256
    assert [w.split(": ")[0:2] for w in warnings] == [
        ["v.yml:6:5", "Models[0].CanonicalOrder"],
        ["v.yml:7:5", "Models[0].Reduction"],
        ["v.yml:8:5", "Models[0].UnsafeClassIndex"],
        ["v.yml:9:5", "Models[0].NeutralClassIndex"],
        ["v.yml:10:5", "Models[0].DefaultThreshold"],
        ["v.yml:21:14", "Thresholds.NSFWUpload"],
        ["v.yml:21:30", "Thresholds.NSFWIndex"],
    ]


def test_typo_inside_onnx_is_an_error_with_a_suggestion() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("Models:\n  - Type: nsfw\n    ONNX: {Input: {Widht: 224}}\n", "v.yml")
    [problem] = caught.value.problems
    assert problem.startswith("v.yml:3:20: Models[0].ONNX.Input.Widht: unknown key; "
                              "did you mean Width? allowed: Width, Height")


@pytest.mark.parametrize(
    ("value", "mode"),
    [("single-word", "single-word"), ("phrase", "phrase"), ("false", "off"), ("off", "off"),
     ("none", "off"), ("no", "off"), ("disabled", "off"), ("Single-Word", "single-word"),
     ("'false'", "off")],
)  # fmt: skip
def test_normalize_values(value: str, mode: str) -> None:
    config = parse_config(f"Models:\n  - Type: labels\n    Model: llava\n    Normalize: {value}\n")
    assert config.models[0].normalize_mode == mode


@pytest.mark.parametrize("value", ["words", "true", "1"])
def test_bad_normalize_value(value: str) -> None:
    with pytest.raises(ConfigError, match=r"3:5: Models\[0\].Normalize: .*allowed: "
                                          r"single-word, phrase, false"):
        parse_config(f"Models:\n  - Type: labels\n    Normalize: {value}\n")


def test_nsfw_default_entry_is_left_alone() -> None:
    config = parse_config("Models:\n  - Type: nsfw\n    Default: true\n")
    assert [(m.type, m.engine) for m in config.models] == [
        ("nsfw", None), ("labels", "tensorflow"), ("caption", "ollama"), ("title", "ollama"),
    ]


def test_loaded_config_carries_warnings(tmp_path: Path) -> None:
    path = tmp_path / "vision.yml"
    path.write_text(PHOTOPRISM_2026)
    loaded = load_config(path)
    assert len(loaded.warnings) == len(EXPECTED_WARNINGS)
    assert all(w.startswith(f"{path}:") for w in loaded.warnings)


def test_cli_loads_photoprism_2026(tmp_path: Path) -> None:
    path = tmp_path / "vision.yml"
    path.write_text(PHOTOPRISM_2026)
    result = CliRunner().invoke(app, ["vision", "ls", "--json", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        w.replace("f.yml", str(path), 1) for w in EXPECTED_WARNINGS
    ]
    rows = json.loads(result.stdout)
    [nasnet] = [row for row in rows if row["index"] == 0]
    assert (nasnet["engine"], nasnet["model"]) == ("tensorflow", "nasnet")
