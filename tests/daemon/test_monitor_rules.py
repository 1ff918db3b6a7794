"""When the monitor restarts and when it holds back: Cooldown, MaxRestarts per hour, `none`,
and the default command only for a service on this host."""

from __future__ import annotations

from xmpvision.config import parse_config
from xmpvision.config.daemon import HealthConfig
from xmpvision.health.monitor import HealthMonitor, on_this_host


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def monitor(uri: str, clock: Clock, **health: object) -> HealthMonitor:
    config = parse_config(f"Models:\n  - {{Type: caption, Model: m, Service: {{Uri: '{uri}'}}}}\n")
    return HealthMonitor(config.models, HealthConfig.model_validate(health), clock=clock)


def test_cooldown_and_max_restarts_per_hour() -> None:
    clock = Clock()
    subject = monitor("http://127.0.0.1:1", clock, Restart="true", Cooldown="10m",
                      MaxRestarts=2)
    watch = subject._watches["http://127.0.0.1:1"]
    assert subject._hold(watch) is None
    watch.last_restart = clock.now
    watch.restarts.append(clock.now)
    clock.now += 60
    assert "Cooldown" in (subject._hold(watch) or "")
    clock.now += 600
    assert subject._hold(watch) is None
    watch.last_restart = clock.now
    watch.restarts.append(clock.now)
    clock.now += 700
    assert "MaxRestarts" in (subject._hold(watch) or "")
    clock.now += 3600  # an hour later both have aged out
    assert subject._hold(watch) is None
    subject.close()


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
