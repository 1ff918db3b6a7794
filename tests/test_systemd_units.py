"""The example systemd units parse, and the service runs the README's main job."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.sidecar.sidecar_helpers import require

UNITS = Path(__file__).resolve().parent.parent / "systemd"
# What systemd-analyze verifies; the folder also holds the polkit rule (JavaScript).
UNIT_SUFFIXES = (".service", ".timer", ".socket", ".path", ".target", ".mount")


def _units() -> list[Path]:
    return sorted(p for p in UNITS.iterdir() if p.suffix in UNIT_SUFFIXES)


def test_units_verify(tmp_path: Path) -> None:
    require("systemd-analyze")  # CI installs it and sets XMPVISION_REQUIRE_READERS: no skip
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None
    for unit in _units():
        shutil.copy(unit, tmp_path / unit.name)
    result = subprocess.run(
        [analyze, "verify", "--man=false", *(str(tmp_path / u.name) for u in _units())],
        capture_output=True, text=True, check=False,
    )
    # The binary is not installed at /usr/local/bin on a test machine; anything else is a fault.
    problems = [line for line in result.stderr.splitlines()
                if line.strip() and "is not executable" not in line]
    assert problems == []


def test_service_is_a_oneshot_scan_with_timer() -> None:
    service = (UNITS / "xmpvision-scan.service").read_text()
    assert "Type=oneshot" in service and "xmpvision scan " in service
    assert "Nice=19" in service and "IOSchedulingClass=idle" in service
    timer = (UNITS / "xmpvision-scan.timer").read_text()
    assert "Persistent=true" in timer and "RandomizedDelaySec=" in timer


def _setting(unit: str, key: str) -> list[str]:
    return [line.split("=", 1)[1].strip() for line in unit.splitlines()
            if line.startswith(f"{key}=")]


def test_daemon_unit_is_notify_with_the_scan_units_hardening() -> None:
    daemon = (UNITS / "xmpvision.service").read_text()
    scan = (UNITS / "xmpvision-scan.service").read_text()
    assert _setting(daemon, "Type") == ["notify"]
    assert _setting(daemon, "Restart") == ["on-failure"]
    assert "xmpvision daemon" in _setting(daemon, "ExecStart")[0]
    hardening = ("NoNewPrivileges", "ProtectSystem", "PrivateTmp", "PrivateDevices",
                 "ProtectHome", "RestrictSUIDSGID", "RestrictAddressFamilies",
                 "ProtectKernelModules", "ReadWritePaths", "StateDirectory",
                 "CapabilityBoundingSet", "PrivateUsers", "RestrictNamespaces",
                 "SystemCallFilter", "ProtectProc", "ProtectClock", "ProtectHostname", "UMask")
    for key in hardening:
        assert _setting(daemon, key) == _setting(scan, key), key
    # systemctl reaches systemd over the D-Bus system bus: a Unix socket.
    assert "AF_UNIX" in _setting(daemon, "RestrictAddressFamilies")[0]


# `systemd-analyze security` scores a unit's exposure from 0 (locked down) to 10; 2.0 and below
# is "OK".
MAX_EXPOSURE = 2.0


def _exposure(analyze: str, unit: Path) -> float:
    result = subprocess.run(
        [analyze, "security", "--offline=true", "--no-pager", str(unit)],
        capture_output=True, text=True, check=False,
    )
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert found is not None, result.stdout + result.stderr
    return float(found.group(1))


def test_services_are_hardened_to_an_ok_exposure(tmp_path: Path) -> None:
    require("systemd-analyze")
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None
    for name in ("xmpvision.service", "xmpvision-scan.service"):
        shutil.copy(UNITS / name, tmp_path / name)
        assert _exposure(analyze, tmp_path / name) <= MAX_EXPOSURE, name


def test_reload_checks_the_configuration_before_signalling() -> None:
    daemon = (UNITS / "xmpvision.service").read_text()
    reload = _setting(daemon, "ExecReload")
    assert reload[0].split()[1:3] == ["config", "check"]
    assert reload[0].split()[0] == _setting(daemon, "ExecStart")[0].split()[0]
    # The shell's builtin kill: /bin/kill (procps) is missing from minimal systems.
    assert reload[-1] == "/bin/sh -c 'kill -HUP \"$$MAINPID\"'"


def test_polkit_rule_grants_exactly_the_restart_of_ollama_to_the_units_user() -> None:
    from xmpvision.config.defaults import DEFAULT_HEALTH_RESTART

    rules = list(UNITS.glob("*.rules"))
    assert len(rules) == 1
    rule = rules[0].read_text()
    users = set(re.findall(r'subject\.user == "([^"]+)"', rule))
    unit_users = {_setting((UNITS / name).read_text(), "User")[0]
                  for name in ("xmpvision.service", "xmpvision-scan.service")}
    assert users == unit_users == {"photos"}
    assert re.findall(r'action\.lookup\("unit"\) == "([^"]+)"', rule) == ["ollama.service"]
    assert re.findall(r'action\.lookup\("verb"\) == "([^"]+)"', rule) == ["restart"]
    assert 'action.id == "org.freedesktop.systemd1.manage-units"' in rule
    assert DEFAULT_HEALTH_RESTART is not None
    assert DEFAULT_HEALTH_RESTART.split()[-1] == "ollama.service"
    assert rule.count("polkit.Result.YES") == 1 and "||" not in rule
