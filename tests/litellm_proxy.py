"""A real LiteLLM proxy (`litellm --config ...`), in a virtual environment of its own, forwarding
to the project's Ollama emulator. Never imported by the package; used by
tests/test_litellm_proxy.py and bench/bench_litellm.py.

The proxy's environment is `$XMPVISION_LITELLM_VENV` (default `.venv-litellm` at the
repository root), created with `pip install 'litellm[proxy]'` when it is missing: LiteLLM's
dependencies would clash with the project's own.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Self

import httpx

ROOT = Path(__file__).resolve().parents[1]
# LiteLLM refuses to start without a master key; this one only guards a loopback port.
MASTER_KEY = "sk-xmpvision-test-0123456789abcdef0123456789abcdef"
STARTUP_SECONDS = 120.0


def venv_path() -> Path:
    return Path(os.environ.get("XMPVISION_LITELLM_VENV") or ROOT / ".venv-litellm")


def ensure_venv(path: Path | None = None) -> Path:
    """The `litellm` program of the proxy's environment, installed first when missing.
    Raises CalledProcessError when it cannot be installed (no package index, say)."""
    path = path or venv_path()
    program = path / "bin" / "litellm"
    if not program.exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        subprocess.run([str(path / "bin" / "python"), "-m", "pip", "install", "-q",
                        "litellm[proxy]"], check=True)
    return program


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiteLLMProxy:
    """`litellm --config` serving `models` (LiteLLM names), each forwarded to the Ollama
    server at `ollama_url` through LiteLLM's `ollama_chat/` provider (Ollama's /api/chat)."""

    def __init__(self, program: Path, ollama_url: str, models: list[str],
                 folder: Path) -> None:
        self.program = program
        self.port = free_port()
        self.config = folder / "litellm.yaml"
        self.log = folder / "litellm.log"
        entries = "".join(
            f"  - model_name: {name}\n    litellm_params:\n      model: ollama_chat/{name}\n"
            f"      api_base: {ollama_url}\n" for name in models)
        self.config.write_text(f"model_list:\n{entries}general_settings:\n"
                               f"  master_key: {MASTER_KEY}\n")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> Self:
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(
                [str(self.program), "--config", str(self.config), "--port", str(self.port),
                 "--num_workers", "1"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.config.parent, start_new_session=True,
            )
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"litellm exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health/readiness",
                             timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.__exit__()
        raise RuntimeError(f"litellm did not start in {STARTUP_SECONDS:g}s")

    def __exit__(self, *exc: object) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
