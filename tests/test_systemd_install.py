"""The README's systemd install, followed word for word in a Debian 12 container booted with real
systemd, dbus and polkit: the units verify and are hardened, the timer is accepted, the scan unit
writes sidecars as `photos`, the daemon reaches active as Type=notify, reloads (and a broken
vision.yml fails the reload), stops, and a lost GPU restarts ollama.service through polkit.

Ollama is the test suite's emulator, run by a stand-in ollama.service. Needs root, debootstrap
and systemd-nspawn; skipped without them, unless XMPVISION_REQUIRE_CONTAINER=1 (CI) makes that
a failure.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.daemon.helpers import photos
from tests.systemd_container import Container, booted, missing_tools

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
SECTION = "## Installing under systemd"
CHECKOUT = "/root/xmpvision"  # where the repository is copied inside
LIBRARY = "/srv/photos"  # what the units and schedules name
MODEL = "gemma4:latest"  # the generated vision.yml's model
PHOTOS = 40
LOSE_GPU_AFTER = 30  # generate requests (two per photo): the GPU is lost mid-scan
MAX_EXPOSURE = 2.0
KEYWORD_PARENT = "AI"  # set in /etc/xmpvision/vision.yml: seen in a sidecar, the file was read
WATCHDOG = 4  # seconds: the daemon's WatchdogSec here (2min in the unit), outlived in the test


@dataclass
class Steps:
    """The shell blocks of the README's install section, in their order there."""
    packages: str
    install: str
    timer: str
    daemon: str
    check: str


def readme_steps() -> Steps:
    text = README.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.index("\n## ", start + len(SECTION))
    return Steps(*re.findall(r"```sh\n(.*?)```", text[start:end], re.S))


def test_readme_install_section_has_its_steps() -> None:
    steps = readme_steps()
    install, timer, daemon, check = steps.install, steps.timer, steps.daemon, steps.check
    assert "python3-venv" in steps.packages and "polkitd" in steps.packages
    assert "/opt/xmpvision" in install and "/usr/local/bin/xmpvision" in install
    assert "xmpvision config generate --system" in install
    assert "useradd --system" in install and " photos" in install
    assert "/etc/polkit-1/rules.d/" in install
    assert "sudo" not in install  # run in a root shell; the text says how to get one
    assert timer.strip() == "systemctl enable --now xmpvision-scan.timer"
    assert daemon.strip() == "systemctl enable --now xmpvision.service"
    assert "runuser -u photos -- systemctl restart ollama.service" in check


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    problems = missing_tools()
    if problems:
        if os.environ.get("XMPVISION_REQUIRE_CONTAINER") == "1":
            pytest.fail("XMPVISION_REQUIRE_CONTAINER=1 but the container cannot run: "
                        + "; ".join(problems))
        pytest.skip("; ".join(problems))
    workdir = tmp_path_factory.mktemp("systemd")
    with booted(workdir) as machine:
        yield machine


def _free_port() -> int:
    # The container shares the host's network: a port free on the host is free inside.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _copy_checkout(machine: Container) -> None:
    """The repository's files (tracked and new, not ignored) at CHECKOUT inside."""
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True, check=True,
    ).stdout.decode().split("\0")
    target = machine.root / CHECKOUT.lstrip("/")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(source.read_bytes())


@dataclass
class Installed:
    machine: Container
    port: int
    install_output: str


@pytest.fixture(scope="module")
def installed(container: Container) -> Installed:
    """The README's package and install blocks run verbatim, on a machine that has an Ollama
    service (the emulator, losing its GPU after LOSE_GPU_AFTER requests) and a library owned by
    nobody yet."""
    machine = container
    port = _free_port()
    _copy_checkout(machine)
    photos(machine.root / LIBRARY.lstrip("/"), PHOTOS)
    (machine.root / "etc/systemd/system/ollama.service").write_text(
        "[Unit]\nDescription=Ollama (the test suite's emulator)\n\n[Service]\n"
        f"WorkingDirectory={CHECKOUT}\n"
        f"ExecStart=/opt/xmpvision/bin/python -m tests.ollama_server serve --port {port} "
        f"--models {MODEL} --latency 0.02 --lose-gpu-after {LOSE_GPU_AFTER}\n\n"
        "[Install]\nWantedBy=multi-user.target\n")
    steps = readme_steps()
    output = machine.ok(steps.packages, cwd=CHECKOUT, timeout=900)
    output += machine.ok(steps.install, cwd=CHECKOUT, timeout=900)
    # The set-up a NAS owner adapts (see the README): the library's owner, Ollama's address
    # (the emulator's port), and a health monitor that probes often enough for a short scan.
    machine.ok(f"chown -R photos:photos {LIBRARY}")
    for unit in ("xmpvision-scan.service", "xmpvision.service"):
        dropin = machine.root / f"etc/systemd/system/{unit}.d"
        dropin.mkdir(parents=True, exist_ok=True)
        (dropin / "ollama.conf").write_text(
            f"[Service]\nEnvironment=OLLAMA_HOST=127.0.0.1:{port}\n")
    (machine.root / "etc/systemd/system/xmpvision.service.d/watchdog.conf").write_text(
        f"[Service]\nWatchdogSec={WATCHDOG}s\n")
    # KeywordParent shows in every sidecar that the units read this file.
    vision = machine.root / "etc/xmpvision/vision.yml"
    vision.write_text(vision.read_text() +
                      "\nHealth: {Interval: 0.5s, Window: 10, RestartTimeout: 30s}\n"
                      f"Sidecar: {{KeywordParent: {KEYWORD_PARENT}}}\n")
    machine.ok("systemctl daemon-reload && systemctl start ollama.service")
    machine.ok(f"for i in $(seq 100); do {_answers(port)} && exit 0; sleep 0.1; done; exit 1",
               cwd=CHECKOUT)
    return Installed(machine, port, output)


def _answers(port: int) -> str:
    return (f"/opt/xmpvision/bin/python -c 'import sys, tests.ollama_server as o; "
            f"sys.exit(0 if o.answers({port}) else 1)'")


def _journal(machine: Container, unit: str) -> str:
    return machine.ok(f"journalctl -b -o cat --no-pager -u {unit}")


def _show(machine: Container, unit: str, *props: str) -> dict[str, str]:
    out = machine.ok(f"systemctl show {unit} " + " ".join(f"-p {p}" for p in props))
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def test_the_install_created_what_the_units_need(installed: Installed) -> None:
    machine = installed.machine
    # The README's block ran as root without sudo: this machine has none.
    assert machine.run("command -v sudo").code != 0
    assert machine.ok("readlink -f /usr/local/bin/xmpvision").strip() == (
        "/opt/xmpvision/bin/xmpvision")
    assert machine.ok("id -u photos").strip().isdigit()
    machine.ok("runuser -u photos -- xmpvision config check --config /etc/xmpvision/vision.yml "
               "--schedules /etc/xmpvision/schedules")
    # The step is safe to repeat: the existing vision.yml is kept.
    again = machine.run("xmpvision config generate --system")
    assert again.code == 2 and "already exists" in again.err


def test_units_verify_and_are_hardened(installed: Installed) -> None:
    machine = installed.machine
    units = " ".join(f"/etc/systemd/system/{u}" for u in (
        "xmpvision.service", "xmpvision-scan.service", "xmpvision-scan.timer"))
    verify = machine.run(f"systemd-analyze verify --man=false {units}")
    assert verify.code == 0 and verify.err.strip() == "", verify.text
    for unit in ("xmpvision.service", "xmpvision-scan.service"):
        report = machine.ok(f"systemd-analyze security --no-pager {unit}")
        level = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", report)
        assert level is not None and float(level.group(1)) <= MAX_EXPOSURE, report


def test_timer_is_accepted(installed: Installed) -> None:
    machine = installed.machine
    machine.ok(readme_steps().timer)
    timer = _show(machine, "xmpvision-scan.timer", "ActiveState", "UnitFileState",
                  "NextElapseUSecRealtime")
    assert timer["ActiveState"] == "active" and timer["UnitFileState"] == "enabled"
    assert timer["NextElapseUSecRealtime"] not in ("", "0")


@dataclass
class Scan:
    result: dict[str, str]
    journal: str
    ollama_pids: tuple[str, str]
    ollama_journal: str


@pytest.fixture(scope="module")
def scan(installed: Installed) -> Scan:
    """One run of the scan unit (what the timer starts) over the library; the emulator loses
    its GPU part-way through."""
    machine = installed.machine
    before = _show(machine, "ollama.service", "MainPID")["MainPID"]
    machine.ok("systemctl start xmpvision-scan.service", timeout=600)
    result = _show(machine, "xmpvision-scan.service", "Result", "ExecMainStatus", "User")
    journal = machine.ok("journalctl -b -o cat --no-pager -u xmpvision-scan.service")
    after = _show(machine, "ollama.service", "MainPID")["MainPID"]
    ollama = machine.ok("journalctl -b -o cat --no-pager -u ollama.service")
    machine.ok("systemctl disable --now xmpvision-scan.timer")  # one or the other, not both
    return Scan(result, journal, (before, after), ollama)


def test_scan_unit_writes_sidecars_as_photos(installed: Installed, scan: Scan) -> None:
    machine = installed.machine
    assert scan.result["User"] == "photos"
    assert scan.result["Result"] == "success", scan.journal
    assert scan.result["ExecMainStatus"] == "0", scan.journal
    assert f"{PHOTOS} done" in scan.journal and "0 failed" in scan.journal, scan.journal
    owners = machine.ok(f"stat -c %U {LIBRARY}/*.xmp | sort | uniq -c").split()
    assert owners == [str(PHOTOS), "photos"]
    captions = machine.ok(f"exiftool -s3 -XMP-dc:Description {LIBRARY}/IMG_0000.jpg.xmp")
    assert captions.strip()
    subjects = machine.ok(f"exiftool -s3 -sep '\\n' -XMP-lr:HierarchicalSubject "
                          f"{LIBRARY}/IMG_0000.jpg.xmp").split()
    assert subjects and all(s.startswith(f"{KEYWORD_PARENT}|") for s in subjects), subjects


def test_a_lost_gpu_restarts_ollama_once_through_polkit_as_photos(installed: Installed,
                                                                   scan: Scan) -> None:
    before, after = scan.ollama_pids
    assert before != after and after != "0", scan.journal
    assert scan.journal.count("restarting it: systemctl restart ollama.service") == 1
    assert "restart command failed" not in scan.journal, scan.journal
    # The restart was the scan's: ollama.service started twice (the test's start and the
    # restart), with nothing in between but the stop.
    assert scan.ollama_journal.count("Started ollama.service") == 2, scan.ollama_journal


def test_polkit_grants_only_the_restart_of_ollama(installed: Installed) -> None:
    machine = installed.machine
    for verb in ("stop ollama.service", "restart systemd-logind.service"):
        refused = machine.run(f"runuser -u photos -- systemctl --no-ask-password {verb}")
        assert refused.code != 0, verb
        assert "Access denied" in refused.err or "authentication required" in refused.err, (
            refused.text)


def test_daemon_notify_reload_and_stop(installed: Installed, scan: Scan) -> None:
    machine = installed.machine
    machine.ok(readme_steps().daemon)
    daemon = _show(machine, "xmpvision.service", "ActiveState", "SubState", "Type", "MainPID")
    assert (daemon["ActiveState"], daemon["SubState"], daemon["Type"]) == (
        "active", "running", "notify"), machine.ok("journalctl -b -o cat -u xmpvision.service")
    pid = daemon["MainPID"]
    assert machine.ok(f"stat -c %U /proc/{pid}").strip() == "photos"
    # The README's checks: the restart privilege, and a reload of a good configuration.
    check = machine.run(readme_steps().check, cwd="/root", timeout=120)
    assert check.code == 0, check.text + _journal(machine, "xmpvision.service")
    # The daemon pings the watchdog: after several of its periods it is the same process.
    machine.ok(f"sleep {WATCHDOG * 2.5}")
    assert _show(machine, "xmpvision.service", "MainPID", "NRestarts", "WatchdogUSec") == {
        "MainPID": pid, "NRestarts": "0", "WatchdogUSec": f"{WATCHDOG}s"}
    # The daemon read the file again (SIGHUP: systemctl does not wait for the daemon's log).
    machine.ok("for i in $(seq 300); do journalctl -b -o cat -u xmpvision.service | "
               "grep -q 'reloaded /etc/xmpvision/vision.yml' && exit 0; sleep 0.1; done; exit 1")
    # A broken vision.yml: the reload fails, the daemon keeps running what it had.
    vision = "/etc/xmpvision/vision.yml"
    machine.ok(f"cp {vision} /root/vision.yml.good && "
               f"printf 'Daemon: {{Worker: {{Every: often}}}}\\n' >> {vision}")
    broken = machine.run("systemctl reload xmpvision.service")
    assert broken.code != 0, broken.text
    # The journal names the file, the key and the reason.
    assert f"{vision}:" in _journal(machine, "xmpvision.service").split("Reloading")[-1]
    assert "Daemon.Worker.Every" in _journal(machine, "xmpvision.service")
    state = _show(machine, "xmpvision.service", "ActiveState", "MainPID")
    assert state == {"ActiveState": "active", "MainPID": pid}
    machine.ok(f"cp /root/vision.yml.good {vision} && systemctl reload xmpvision.service")
    machine.ok("systemctl stop xmpvision.service", timeout=120)
    stopped = _show(machine, "xmpvision.service", "ActiveState", "Result")
    assert stopped == {"ActiveState": "inactive", "Result": "success"}

