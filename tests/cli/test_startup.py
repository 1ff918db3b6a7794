"""A command imports only what it runs: every `xmpvision` process builds the whole command tree,
so the subcommands' heavy modules (the daemon, the run machinery, downloads) load only when
their command runs. Checked on the modules a fresh process has loaded, never on timings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.library_builder import cli_env, write_config

# Runs the CLI as `python -m xmpvision` does, then lists the modules the process loaded.
_CHILD = """\
import json, sys
sys.argv = ["xmpvision", *sys.argv[1:]]
try:
    if len(sys.argv) > 1:
        from xmpvision.cli import main
        main()
    else:
        import xmpvision.cli
finally:
    print("MODULES " + json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _loaded(*args: str) -> tuple[int, set[str]]:
    done = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True, text=True,
                          env=cli_env(), timeout=60, check=False)
    lines = [line for line in done.stderr.splitlines() if line.startswith("MODULES ")]
    assert lines, done.stderr
    return done.returncode, set(json.loads(lines[-1].removeprefix("MODULES ")))


def _among(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules for name in names if m == name or m.startswith(f"{name}."))


def test_building_the_command_tree_loads_no_run_machinery() -> None:
    _, modules = _loaded()
    assert "xmpvision.cli.scan" in modules  # the tree was built
    assert _among(modules, ("xmpvision.jobs", "xmpvision.pipeline", "xmpvision.health",
                            "xmpvision.daemon", "xmpvision.engines.catalog",
                            "xmpvision.config.schedules", "xmpvision.config.sample",
                            "httpx", "rich.progress")) == []


def test_a_scan_that_asks_nothing_loads_no_daemon_download_classifier_or_http(
        tmp_path: Path) -> None:
    empty = tmp_path / "photos"
    empty.mkdir()
    # Nothing listens on port 9: a scan of no photo never asks the server anything.
    config = write_config(tmp_path / "vision.yml", "http://127.0.0.1:9")
    code, modules = _loaded("scan", "--config", str(config), "--state",
                            str(tmp_path / "state.sqlite3"), str(empty))
    assert code == 0
    assert "xmpvision.pipeline" in modules  # it did run
    assert _among(modules, (
        "xmpvision.daemon", "apscheduler", "watchdog", "xmpvision.config.schedules",
        "xmpvision.health.check",
        "xmpvision.config.sample",
        "xmpvision.engines.catalog", "xmpvision.engines.downloads",
        "tensorflow", "onnxruntime", "numpy",
        "rich",  # stdout is not a terminal: plain lines, no progress bar
        # No engine is created: the Ollama models are described, their HTTP stack not loaded.
        "xmpvision.engines.ollama.engine", "xmpvision.engines.http", "httpx",
    )) == []
