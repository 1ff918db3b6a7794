"""When the monitor restarts and when it holds back: Cooldown, MaxRestarts per hour (over every
process using one health store), `none`, and the default command only for a service on this
host."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from xmpvision.config import parse_config
from xmpvision.config.daemon import HealthConfig
from xmpvision.health.budget import Claim
from xmpvision.health.monitor import HealthMonitor, on_this_host
from xmpvision.health.store import HealthStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def monitor(uri: str, clock: Clock, store: HealthStore | None = None,
            **health: object) -> HealthMonitor:
    config = parse_config(f"Models:\n  - {{Type: caption, Model: m, Service: {{Uri: '{uri}'}}}}\n")
    return HealthMonitor(config.models, HealthConfig.model_validate(health), store, clock=clock,
                         wall=clock)


def restart(subject: HealthMonitor, clock: Clock) -> Claim:
    """Claim a restart as the monitor does and, when granted, end it at once."""
    watch = subject._watches["http://127.0.0.1:1"]
    claim = subject._claim(watch)
    if claim.id is not None:
        subject._budget.restart_ended(watch.shown, claim.id, clock.now)
    return claim


@pytest.mark.parametrize("stored", [False, True])
def test_cooldown_and_max_restarts_per_hour(tmp_path: Path, stored: bool) -> None:
    clock = Clock()
    store = HealthStore.beside(tmp_path / "state.sqlite3") if stored else None
    subject = monitor("http://127.0.0.1:1", clock, store, Restart="true", Cooldown="10m",
                      MaxRestarts=2)
    assert restart(subject, clock).granted
    clock.now += 60
    assert "Cooldown" in (restart(subject, clock).reason or "")
    clock.now += 600
    assert restart(subject, clock).granted
    clock.now += 700
    assert "MaxRestarts" in (restart(subject, clock).reason or "")
    clock.now += 3600  # an hour later both have aged out
    assert restart(subject, clock).granted
    subject.close()
    if store is not None:
        store.close()


def test_the_budget_is_shared_by_every_process_on_one_store(tmp_path: Path) -> None:
    """The scan unit, the daemon and a daemon after a reload or restart: one budget."""
    clock = Clock()
    state = tmp_path / "state.sqlite3"
    scan_store, daemon_store = HealthStore.beside(state), HealthStore.beside(state)
    scan = monitor("http://127.0.0.1:1", clock, scan_store, Restart="true", Cooldown="10m",
                   MaxRestarts=2)
    daemon = monitor("http://127.0.0.1:1", clock, daemon_store, Restart="true",
                     Cooldown="10m", MaxRestarts=2)
    assert restart(scan, clock).granted
    clock.now += 18  # the scan unit, then the daemon, 18 s apart
    refused = restart(daemon, clock)
    assert not refused.granted and "Cooldown" in (refused.reason or "")
    assert refused.last is not None and refused.last.began == clock.now - 18
    daemon.close()
    daemon_store.close()
    clock.now += 38  # a daemon reloaded or restarted: a fresh monitor, a fresh store object
    with HealthStore.beside(state) as again:
        reloaded = monitor("http://127.0.0.1:1", clock, again, Restart="true", Cooldown="10m")
        assert "Cooldown" in (restart(reloaded, clock).reason or "")
        reloaded.close()
    scan.close()
    scan_store.close()


def test_a_restart_under_way_in_another_process_is_waited_for(tmp_path: Path) -> None:
    clock = Clock()
    with HealthStore.beside(tmp_path / "state.sqlite3") as store:
        claim = store.claim_restart("http://127.0.0.1:1", clock.now, cooldown=1.0,
                                    max_restarts=3, restart_timeout=120.0)
        assert claim.granted
        clock.now += 5  # past the Cooldown, not ended: it is still under way
        other = store.claim_restart("http://127.0.0.1:1", clock.now, cooldown=1.0,
                                    max_restarts=3, restart_timeout=120.0)
        assert not other.granted and other.running is not None


def test_status_never_shows_a_verdict_older_than_the_last_restart(tmp_path: Path) -> None:
    with HealthStore.beside(tmp_path / "state.sqlite3") as store:
        store.save_verdict("http://x", "degraded", version="1", speed=1.0, baseline=4.0,
                           detail="slow")
        store.flush()
        time.sleep(0.01)
        claim = store.claim_restart("http://x", time.time(), cooldown=0.0, max_restarts=3,
                                    restart_timeout=1.0)
        assert claim.id is not None
        store.restart_ended("http://x", claim.id, time.time())
        [record] = store.services()
        assert record.status == "restarted" and record.checked == record.last_restart
        store.save_verdict("http://x", "ok", version="1", speed=4.0, baseline=4.0, detail=None)
        store.flush()
        assert store.services()[0].status == "ok"


def test_none_only_warns() -> None:
    subject = monitor("http://127.0.0.1:1", Clock(), Restart="none")
    watch = subject._watches["http://127.0.0.1:1"]
    assert "none" in (subject._hold(watch) or "")
    subject.close()


def test_the_default_restart_is_only_for_a_service_on_this_host() -> None:
    remote = monitor("http://192.0.2.7:11434", Clock())
    watch = remote._watches["http://192.0.2.7:11434"]
    assert "another host" in (remote._hold(watch) or "")
    remote.close()
    written = monitor("http://192.0.2.7:11434", Clock(), Restart="ssh gpu-box systemctl restart "
                      "ollama.service")
    watch = written._watches["http://192.0.2.7:11434"]
    assert written._hold(watch) is None
    written.close()
    assert on_this_host("http://127.0.0.1:11434") and on_this_host("http://localhost:11434")
    assert on_this_host("http://[::1]:11434")
    assert not on_this_host("http://gpu-box.example:11434")
