"""The health verdict compares like with like: against an emulator whose schema-constrained
answers are 5x slower per token than its free text, runs of captions only, labels only, both,
and both from a generate model (each with a fresh monitor on one health store) never restart a
healthy Ollama, and a GPU lost in the middle of them is restarted once, within 10 answers."""

from __future__ import annotations

import threading
from pathlib import Path

from tests.daemon.helpers import MixedRuns, emulator_process, mixed_runs, photos
from xmpvision.config.daemon import HealthConfig
from xmpvision.health.store import HealthStore

# Seconds per prompt and per answer token (small: the test is about ratios, not time), and
# constrained decoding 5x slower per token.
SERVER = ["--prefill", "0.00001", "--decode", "0.0002", "--constrained-slowdown", "5",
          "--noise", "0.15", "--seed", "20"]


def health(command: str) -> HealthConfig:
    return HealthConfig.model_validate({
        "Interval": 30, "Window": 10, "Drift": 2.0, "Restart": command,
        "RestartTimeout": "20s", "Cooldown": "10m", "MaxRestarts": 3})


def test_runs_of_different_answer_kinds_never_restart_a_healthy_ollama(tmp_path: Path) -> None:
    library = tmp_path / "photos"
    photos(library, 15)
    with emulator_process(tmp_path, *SERVER) as ollama:
        runs = mixed_runs(ollama.url, tmp_path / "state.sqlite3", library,
                          health(ollama.restart_command(*SERVER)), 240)
    assert runs.failed == 0
    assert {t.kind for t in runs.timings} == {"schema", "text"}
    assert runs.restarts == []
    with HealthStore.beside(tmp_path / "state.sqlite3") as store:
        metrics = {metric for _, metric in store.baselines(ollama.url)}
        assert [e for _, _, e, _ in store.events()].count("restart") == 0
    assert {"decode/schema", "decode/text", "prefill/schema", "prefill/text"} <= metrics


def test_a_gpu_lost_in_the_middle_of_a_mixed_workload_is_restarted_once(tmp_path: Path) -> None:
    library = tmp_path / "photos"
    photos(library, 15)
    lost = [*SERVER, "--lose-gpu-after", "100", "--gpu-slowdown", "8"]
    with emulator_process(tmp_path, *lost) as ollama:
        runs = mixed_runs(ollama.url, tmp_path / "state.sqlite3", library,
                          health(ollama.restart_command(*SERVER)), 200)
    assert runs.failed == 0
    assert len(runs.restarts) == 1
    began = runs.restarts[0][0]
    before = [t for t in runs.timings if t.started + t.wall <= began]
    assert len(before) >= 100  # not a false restart before the GPU was lost
    assert 1 <= runs.answered_before_restart(100) <= 10


def test_two_processes_facing_one_gpu_loss_restart_it_once(tmp_path: Path) -> None:
    """A scan and the daemon (two monitors, two state databases, one health store on the
    machine) both see the GPU go: one restarts, the other waits for it and measures afresh."""
    lost = [*SERVER, "--lose-gpu-after", "80", "--gpu-slowdown", "8"]
    shared = tmp_path / "shared.health"
    results: dict[str, MixedRuns] = {}
    with emulator_process(tmp_path, *lost) as ollama:
        def process(name: str, plan: tuple[tuple[str, ...], ...]) -> None:
            library = tmp_path / name
            photos(library, 12)
            results[name] = mixed_runs(ollama.url, tmp_path / f"{name}.sqlite3", library,
                                       health(ollama.restart_command(*SERVER)), 140, plan,
                                       store_path=shared)

        threads = [threading.Thread(target=process, args=("scan", (("caption",),))),
                   threading.Thread(target=process, args=("daemon", (("labels",),)))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert set(results) == {"scan", "daemon"}
    assert sum(r.failed for r in results.values()) == 0
    assert sum(len(r.restarts) for r in results.values()) == 1
    with HealthStore(shared) as store:
        assert [e for _, _, e, _ in store.events()].count("restart") == 1
