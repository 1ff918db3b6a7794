"""The example systemd units parse, and the service runs the README's main job."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parent.parent / "systemd"


def test_units_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    for unit in UNITS.iterdir():
        shutil.copy(unit, tmp_path / unit.name)
    result = subprocess.run(
        [analyze, "verify", "--man=false",
         *(str(tmp_path / u.name) for u in sorted(UNITS.iterdir()))],
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
