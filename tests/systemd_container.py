"""A Debian 12 container booted with real systemd (PID 1), dbus and polkit, for the install test.

Built with debootstrap (minbase plus the packages below) once, cached under
/var/cache/xmpvision-ci (XMPVISION_CI_CACHE), and copied afresh for every run, so each run starts
from a clean system. Booted with `systemd-nspawn -b` on the host's network (pip inside reaches
the package index; the emulator listens on loopback), with `--keep-unit --register=no` because
the host need not run systemd. Commands run inside through nsenter.

Needs root, debootstrap and systemd-nspawn (`apt-get install debootstrap systemd-container`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SUITE = "bookworm"
# A Debian 12 NAS before the README's steps (which install python3-venv and polkitd), and
# exiftool to read the sidecars back.
PACKAGES = ("systemd", "systemd-sysv", "dbus", "libimage-exiftool-perl", "ca-certificates")
CACHE = Path(os.environ.get("XMPVISION_CI_CACHE", "/var/cache/xmpvision-ci"))
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
BOOT_TIMEOUT = 120.0


def missing_tools() -> list[str]:
    """Why the container cannot be built here (empty: it can)."""
    problems = [f"{tool} is not installed" for tool in ("debootstrap", "systemd-nspawn",
                                                         "nsenter")
                if shutil.which(tool) is None]
    if os.geteuid() != 0:
        problems.append("not running as root")
    return problems


def _host_mirror() -> str | None:
    """The Debian mirror the host's apt uses (so the container uses what is set up here);
    None: debootstrap's default."""
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in sources:
        try:
            text = path.read_text()
        except OSError:
            continue
        # deb822 (`URIs: ...` with `Suites: bookworm ...`) or one-line (`deb URI bookworm main`).
        for stanza in text.split("\n\n"):
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
            if uris and suites and SUITE in suites.group(1).split() and "debian" in uris.group(1):
                return uris.group(1)
        for match in re.finditer(rf"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+{SUITE}\s", text, re.M):
            if "debian" in match.group(1):
                return match.group(1)
    return None


def cached_root() -> Path:
    """The debootstrapped tree, built on first use (a lock keeps two runs from building it
    twice); named after what it holds, so a changed package list builds a new one."""
    key = hashlib.sha256(" ".join((SUITE, *PACKAGES)).encode()).hexdigest()[:12]
    root = CACHE / f"{SUITE}-{key}"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (root / "usr/lib/systemd/systemd").exists():
            return root
        building = Path(tempfile.mkdtemp(dir=CACHE, prefix=".building-"))
        building.chmod(0o755)  # the container's /: mkdtemp's 0700 locks out every other user
        try:
            mirror = _host_mirror()
            subprocess.run(
                ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE,
                 str(building), *([mirror] if mirror else [])],
                check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            building.rename(root)
        finally:
            if building.exists():
                shutil.rmtree(building, ignore_errors=True)
    return root


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


class Container:
    """A booted copy of the cached tree; `run` executes a shell command inside as root."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.root = workdir / "root"
        self.log = workdir / "boot.log"
        self._nspawn: subprocess.Popen[bytes] | None = None
        self.leader: int | None = None

    def prepare(self, pip_cache: Path) -> None:
        subprocess.run(["cp", "-a", "--reflink=auto", str(cached_root()), str(self.root)],
                       check=True)
        # The host's CA bundle (it may hold a proxy's CA) and pip told to use it.
        shutil.copy(HOST_CA, self.root / HOST_CA.relative_to("/"))
        (self.root / "etc/pip.conf").write_text(f"[global]\ncert = {HOST_CA}\n")
        self._pip_cache = pip_cache

    def boot(self) -> None:
        self._pip_cache.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as log:
            self._nspawn = subprocess.Popen(
                ["systemd-nspawn", "-D", str(self.root), "--boot", "--keep-unit",
                 "--register=no", f"--bind={self._pip_cache}:/root/.cache/pip"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + BOOT_TIMEOUT
        while self.leader is None:
            self.leader = self._find_leader()
            self._check_alive(deadline)
            time.sleep(0.1)
        while True:
            state = self.run("systemctl is-system-running").out.strip()
            if state in ("running", "degraded"):
                return
            self._check_alive(deadline)
            time.sleep(0.2)

    def _find_leader(self) -> int | None:
        assert self._nspawn is not None
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == self._nspawn.pid:
                    return int(stat.parent.name)
        return None

    def _check_alive(self, deadline: float) -> None:
        assert self._nspawn is not None
        if self._nspawn.poll() is not None or time.monotonic() > deadline:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the container did not boot:\n{tail}")

    def run(self, command: str, *, cwd: str = "/root", timeout: float = 600) -> Result:
        """`command` by bash inside the container, as root, in `cwd`."""
        assert self.leader is not None
        done = subprocess.run(
            ["nsenter", "-t", str(self.leader), "-a", "--", "/usr/bin/env", "-i",
             f"PATH={PATH}", "HOME=/root", "LANG=C.UTF-8", "/bin/bash", "-c",
             f"cd {cwd} && {command}"],
            capture_output=True, text=True, timeout=timeout, check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def ok(self, command: str, **kwargs: object) -> str:
        """Run; fail with the command's output unless it exits 0."""
        result = self.run(command, **kwargs)  # type: ignore[arg-type]
        if result.code != 0:
            raise AssertionError(f"{command!r} exited {result.code}:\n{result.text}")
        return result.out

    def shutdown(self) -> None:
        if self._nspawn is None:
            return
        if self._nspawn.poll() is None:
            # SIGTERM asks the container's systemd to power off.
            self._nspawn.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._nspawn.wait(timeout=30)
        if self.leader is not None:
            # Killing the container's PID 1 ends every process inside (its PID namespace);
            # nspawn killed alone would leave them running.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.leader, signal.SIGKILL)
        if self._nspawn.poll() is None:
            self._nspawn.kill()
        self._nspawn.wait()
        self._nspawn = None


@contextlib.contextmanager
def booted(workdir: Path, pip_cache: Path = CACHE / "pip") -> Iterator[Container]:
    container = Container(workdir)
    container.prepare(pip_cache)
    try:
        container.boot()
        yield container
    finally:
        container.shutdown()
        shutil.rmtree(container.root, ignore_errors=True)
