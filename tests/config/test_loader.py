"""vision.yml loading: the README example, defaults, env expansion and every kind of mistake."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xmpvision.cli import app
from xmpvision.config import load_config, parse_config
from xmpvision.errors import ConfigError
from xmpvision.runmodes import RunMode

README_EXAMPLE = textwrap.dedent(
    """\
    Models:
      - Type: labels            # labels | caption  (others may come later)
        Default: true           # the built-in TensorFlow classifier (fallback)
      - Type: labels
        Engine: ollama
        Model: gemma3:latest
        Run: newly-indexed
        Resolution: 720
        Options: {Temperature: 0.1}
        Service: {Uri: "http://localhost:11434", Timeout: 120s, Key: "${OLLAMA_API_KEY}"}
      - Type: caption
        Engine: ollama
        Model: gemma3:latest
        Prompt: "... Respond in German."
    Thresholds: {Confidence: 10, Topicality: 0}
    """
)


def test_spec_example_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_API_KEY", "s3cret")
    config = parse_config(README_EXAMPLE)
    labels = [m for m in config.models if m.type == "labels"]
    assert [m.engine for m in labels] == ["tensorflow", "ollama"]
    assert labels[0].default and labels[0].model == "nasnet"
    assert labels[1].run is RunMode.NEWLY_INDEXED
    assert labels[1].service.timeout == 120.0
    assert labels[1].service.key is not None
    assert labels[1].service.key.get_secret_value() == "s3cret"
    assert labels[1].options.snake_case() == {"temperature": 0.1}
    caption = [m for m in config.models if m.type == "caption"]
    assert len(caption) == 1 and caption[0].prompt == "... Respond in German."


def test_unset_env_key_counts_as_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)
    monkeypatch.delenv("OLLAMA_API_KEY_FILE", raising=False)
    config = parse_config(README_EXAMPLE)
    assert config.models[1].service.key is None


def test_api_key_file_and_ollama_host_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("from-file\n")
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)
    monkeypatch.setenv("OLLAMA_API_KEY_FILE", str(key_file))
    monkeypatch.setenv("OLLAMA_HOST", "0.0.0.0:11500")
    config = parse_config("Models:\n  - Type: caption\n    Model: llava\n")
    caption = config.models[0]
    assert caption.service.uri == "http://127.0.0.1:11500"
    assert caption.service.key is not None
    assert caption.service.key.get_secret_value() == "from-file"
    assert caption.model_ref == "llava:latest"


@pytest.mark.parametrize(
    ("host", "uri"),
    [
        ("", "http://127.0.0.1:11434"),
        ("nas.local", "http://nas.local:11434"),
        ("https://ollama.example.org", "https://ollama.example.org:443"),
        ("http://10.0.0.2:8080/", "http://10.0.0.2:8080"),
    ],
)
def test_ollama_host_forms(monkeypatch: pytest.MonkeyPatch, host: str, uri: str) -> None:
    monkeypatch.setenv("OLLAMA_HOST", host)
    config = parse_config("Models:\n  - Type: caption\n    Model: llava\n")
    assert config.models[0].service.uri == uri


def test_missing_types_get_builtin_defaults_appended() -> None:
    config = parse_config("Models:\n  - Type: labels\n    Model: qwen2.5vl:7b\n")
    assert [(m.type, m.engine, m.default) for m in config.models] == [
        ("labels", "ollama", False),
        ("caption", "ollama", True),
        ("title", "ollama", True),
    ]
    title = config.models[-1]
    assert title.run.value == "manual"  # existing set-ups do not start writing titles


def test_default_entry_keeps_run_and_disabled() -> None:
    config = parse_config("Models:\n  - Type: labels\n    Default: true\n    Run: manual\n"
                          "    Disabled: true\n")
    labels = config.models[0]
    assert (labels.engine, labels.run, labels.disabled) == ("tensorflow", RunMode.MANUAL, True)


@pytest.mark.parametrize(("written", "auto", "most"), [
    (None, True, 16), ("auto", True, 16), ("Auto", True, 16), (4, False, 4), ('"4"', False, 4),
])
def test_parallel_is_auto_unless_a_number_fixes_it(written: object, auto: bool,
                                                   most: int) -> None:
    service = "" if written is None else f"\n    Service: {{Parallel: {written}}}"
    config = parse_config(f"Models:\n  - Type: caption\n    Model: llava{service}\n")
    model = next(m for m in config.models if m.type == "caption")
    assert (model.service.auto_parallel, model.service.most_parallel) == (auto, most)


def test_unsupported_photoprism_types_are_accepted() -> None:
    config = parse_config("Models:\n  - Type: nsfw\n    Default: true\n  - Type: face\n")
    assert [m.type for m in config.models][:2] == ["nsfw", "face"]


def test_no_file_uses_builtin_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("XMPVISION_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setattr("xmpvision.config.loader.search_paths",
                        lambda: [tmp_path / "vision.yml", tmp_path / "cfg" / "vision.yml"])
    loaded = load_config(None)
    assert loaded.path is None
    assert [(m.type, m.engine) for m in loaded.config.models] == [
        ("labels", "tensorflow"), ("labels", "ollama"), ("caption", "ollama"), ("title", "ollama"),
    ]


def test_search_order_and_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env_file = tmp_path / "env.yml"
    env_file.write_text("Models: []\n")
    monkeypatch.setenv("XMPVISION_CONFIG", str(env_file))
    assert load_config(None).path == env_file
    explicit = tmp_path / "explicit.yml"
    explicit.write_text("Models: []\n")
    assert load_config(explicit).path == explicit


def test_yaml_found_where_yml_expected(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "vision.yaml").write_text("Models: []\n")
    monkeypatch.delenv("XMPVISION_CONFIG", raising=False)
    monkeypatch.setattr("xmpvision.config.loader.search_paths", lambda: [tmp_path / "vision.yml"])
    with pytest.raises(ConfigError, match=r"vision\.yaml: xmpvision reads vision\.yml"):
        load_config(None)


# Each malformed config: the text, then fragments the message must hold (position, key path,
# allowed values). The CLI must exit 2 and print no traceback for every one.
BAD_CONFIGS: dict[str, tuple[str, list[str]]] = {
    "unknown key": (
        "Models:\n  - Type: labels\n    Modle: llava\n",
        [":3:5:", "Models[0].Modle", "unknown key; did you mean Model? allowed: Type, Default"],
    ),
    "unknown top-level key": (
        "Modles:\n  - Type: labels\n",
        [":1:1:", "Modles", "unknown key; did you mean Models? allowed: Models, Thresholds"],
    ),
    "bad Run value": (
        "Models:\n  - Type: caption\n    Run: sometimes\n",
        [":3:5:", "Models[0].Run", "'sometimes'", "allowed: auto, never, manual"],
    ),
    "bad Type": (
        "Models:\n  - Type: captions\n",
        [":2:5:", "Models[0].Type", "allowed: labels, caption"],
    ),
    "missing Type": (
        "Models:\n  - Model: llava\n",
        [":2:5:", "Models[0].Type", "required key is missing", "allowed: labels, caption"],
    ),
    "bad Engine": (
        "Models:\n  - Type: caption\n    Engine: vllm\n",
        [":3:5:", "Models[0].Engine", "allowed: ollama, tensorflow, openai"],
    ),
    "wrong type for Resolution": (
        "Models:\n  - Type: caption\n    Resolution: big\n",
        [":3:5:", "Models[0].Resolution", "got 'big'", "a whole number (>= 32, <= 4096)"],
    ),
    "Uri not a string": (
        "Models:\n  - Type: caption\n  - Type: labels\n    Service:\n      Uri: {a: 1}\n",
        [":5:7:", "Models[1].Service.Uri", "allowed: a text value"],
    ),
    "bad Timeout": (
        "Models:\n  - Type: caption\n    Service: {Timeout: forever}\n",
        [":3:15:", "Models[0].Service.Timeout", "expected e.g. 120s"],
    ),
    "Parallel neither auto nor a number": (
        "Models:\n  - Type: caption\n    Service: {Parallel: many}\n",
        [":3:15:", "Models[0].Service.Parallel", "invalid Parallel value 'many'"],
    ),
    "Parallel out of range": (
        "Models:\n  - Type: caption\n    Service: {Parallel: 0}\n",
        [":3:15:", "Models[0].Service.Parallel", "allowed: auto, or a number from 1 to 64"],
    ),
    "unknown option": (
        "Models:\n  - Type: caption\n    Options:\n      Temprature: 0.1\n",
        [":4:7:", "Models[0].Options.Temprature", "did you mean Temperature?",
         "allowed: Temperature, TopK"],
    ),
    "option typo in lower case": (
        "Models:\n  - Type: caption\n    Options: {temperatur: 0.1}\n",
        [":3:15:", "Models[0].Options.temperatur", "did you mean Temperature?"],
    ),
    "unknown key unlike any": (
        "Models:\n  - Type: caption\n    Service: {Xyzzy: 1}\n",
        [":3:15:", "Models[0].Service.Xyzzy", "unknown key; allowed: Uri, Endpoints, Method"],
    ),
    "unknown key in Thresholds": (
        "Thresholds: {Confidance: 20}\n",
        [":1:14:", "Thresholds.Confidance", "did you mean Confidence?"],
    ),
    "bad Normalize": (
        "Models:\n  - Type: labels\n    Normalize: words\n",
        [":3:5:", "Models[0].Normalize", "'words'", "allowed: single-word, phrase, false"],
    ),
    "Models not a list": (
        "Models: caption\n",
        [":1:1:", "Models", "allowed: a list"],
    ),
    "model entry not a mapping": (
        "Models:\n  - caption\n",
        [":2:5:", "Models[0]", "a mapping with the keys Type"],
    ),
    "bad YAML syntax": (
        "Models:\n  - Type: caption\n   Model: [unclosed\n",
        [":3:", "invalid YAML"],
    ),
    "tab indentation": (
        "Models:\n\t- Type: caption\n",
        [":2:1:", "invalid YAML"],
    ),
    "duplicate key": (
        "Models:\n  - Type: caption\n    Model: a\n    Model: b\n",
        [":4:5:", "Models[0].Model", "duplicate key"],
    ),
    "bad Sidecar naming": (
        "Sidecar: {Naming: short}\n",
        [":1:11:", "Sidecar.Naming", "allowed: full, base"],
    ),
    "bad Think": (
        "Models:\n  - Type: caption\n    Service: {Think: maybe}\n",
        [":3:15:", "Models[0].Service.Think", "allowed: true, false, low, medium, high"],
    ),
    "bad language tag": (
        "Models:\n  - Type: caption\n    Language: German language\n",
        [":3:5:", "Models[0].Language", "BCP-47"],
    ),
    "top level is a list": (
        "- Type: caption\n",
        [":1:1:", "top level must be a mapping"],
    ),
    "Thresholds wrong type": (
        "Thresholds:\n  Confidence: high\n",
        [":2:3:", "Thresholds.Confidence", "allowed: a number"],
    ),
}


@pytest.mark.parametrize("name", list(BAD_CONFIGS))
def test_malformed_config_exits_2_with_position(name: str, tmp_path: Path) -> None:
    text, fragments = BAD_CONFIGS[name]
    path = tmp_path / "vision.yml"
    path.write_text(text)
    result = CliRunner().invoke(app, ["vision", "ls", "--config", str(path)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    message = result.stderr
    assert message.startswith(f"{path}:"), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_several_errors_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "vision.yml"
    path.write_text("Models:\n  - Type: caption\n    Run: x\n  - Type: labels\n    Foo: 1\n")
    result = CliRunner().invoke(app, ["vision", "ls", "--config", str(path)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert [line.split(": ")[1] for line in lines] == ["Models[0].Run", "Models[1].Foo"]


def test_missing_file_and_extension_mixup(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["vision", "ls", "--config", str(tmp_path / "nope.yml")])
    assert missing.exit_code == 2 and "config file not found" in missing.stderr
    (tmp_path / "vision.yaml").write_text("Models: []\n")
    mixup = runner.invoke(app, ["vision", "ls", "--config", str(tmp_path / "vision.yml")])
    assert mixup.exit_code == 2
    assert "did you mean that?" in mixup.stderr and "vision.yaml" in mixup.stderr


def test_secret_is_not_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "vision.yml"
    path.write_text("Models:\n  - Type: caption\n    Service: {Key: hunter2, Parallel: -1}\n")
    result = CliRunner().invoke(app, ["vision", "ls", "--config", str(path)])
    assert result.exit_code == 2
    assert "hunter2" not in result.output


def test_fallback_keys_and_their_bounds() -> None:
    config = parse_config("Fallback: {Failures: 5, Open: 2m, OpenMax: 1h, Upgrade: false}\n")
    assert (config.fallback.failures, config.fallback.open, config.fallback.open_max,
            config.fallback.upgrade) == (5, 120.0, 3600.0, False)
    with pytest.raises(ConfigError) as caught:
        parse_config("Fallback: {Open: 60s, OpenMax: 1s}\n")
    assert "OpenMax (1s) is shorter than Open (60s)" in caught.value.problems[0]
    with pytest.raises(ConfigError):
        parse_config("Fallback: {Failures: 0}\n")


def test_onnx_normalization_takes_one_value_for_all_channels() -> None:
    config = parse_config("Models:\n  - Type: labels\n    Engine: onnx\n"
                          "    ONNX: {Input: {Normalization: {Mean: 0.5, StdDev: 0.25}}}\n")
    onnx = config.models[0].onnx
    assert onnx is not None and onnx.input is not None and onnx.input.normalization is not None
    assert onnx.input.normalization.mean == [0.5] and onnx.input.normalization.std_dev == [0.25]


# --- URLs and relative paths (issue 19) -------------------------------------------------------


@pytest.mark.parametrize("uri", ["http://nas:11434x/api/generate", "http://nas:99999",
                                 "nas:11434", "http://:11434"])
def test_a_uri_that_is_not_a_url_is_a_config_error_naming_the_key(uri: str) -> None:
    text = f'Models:\n  - Type: caption\n    Model: gemma3\n    Service: {{Uri: "{uri}"}}\n'
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "v.yml")
    [problem] = caught.value.problems
    assert problem.startswith("v.yml:4:15: Models[0].Service.Uri: invalid URL"), problem


def test_an_endpoint_uri_is_checked_too() -> None:
    text = ('Models:\n  - Type: caption\n    Model: gemma3\n'
            '    Service: {Endpoints: [{Uri: "http://a:11434"}, {Uri: "http://b:1143x"}]}\n')
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "v.yml")
    assert "Models[0].Service.Endpoints[1].Uri: invalid URL 'http://b:1143x'" in (
        caught.value.problems[0])


def test_an_ollama_host_that_is_not_a_url_is_a_config_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "localhost:1143x")
    with pytest.raises(ConfigError) as caught:
        parse_config("Models:\n  - Type: caption\n    Model: gemma3\n", "v.yml")
    assert caught.value.problems[0].startswith("OLLAMA_HOST: invalid URL")
    assert caught.value.exit_code == 2


def test_relative_path_and_label_file_are_taken_from_the_config_folder(tmp_path: Path) -> None:
    config = tmp_path / "conf" / "vision.yml"
    config.parent.mkdir()
    config.write_text("Models:\n  - Type: labels\n    Engine: tensorflow\n    Path: models/mine\n"
                      "    LabelFile: ./classes.txt\n  - Type: labels\n    Engine: onnx\n"
                      "    Model: other\n    LabelFile: labels.txt\n")
    mine, other = load_config(config).config.models[:2]
    assert mine.path == str(tmp_path / "conf" / "models" / "mine")
    assert mine.label_file == str(tmp_path / "conf" / "classes.txt")
    assert other.label_file == "labels.txt"  # a bare name: in the model's directory
