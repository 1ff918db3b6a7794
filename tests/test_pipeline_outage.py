"""A server that wedges mid-run (accepts requests, never answers): its circuit breaker opens
after a few timeouts, every later photo goes straight to the fallback model, the server gets
work again within one probe period once it is back, and a later run upgrades exactly the
photos the fallback answered, keeping the owner's keywords."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.daemon.helpers import free_port
from tests.library_builder import (
    Ndjson,
    as_list,
    exiftool_json,
    parse_ndjson,
    sidecar_of,
    write_photos,
)
from tests.ollama_server import OllamaServer, RecordedRequest, Reply
from tests.test_pipeline import Collect
from xmpvision.cli import app
from xmpvision.config import load_config
from xmpvision.jobs import run_scan
from xmpvision.pipeline import RunOptions

runner = CliRunner()
TIMEOUT = 2.0  # the primary's read timeout: what each request to a wedged server costs
PRIMARY = "ollama:primary:latest"
SECOND = "ollama:second:latest"


def labels(name: str) -> str:
    return json.dumps({"labels": [{"name": name, "confidence": 0.9, "topicality": 0.9}]})


def vision_yml(tmp_path: Path, primary: OllamaServer | str, second: OllamaServer, *,
               extra: str = "", open_for: str = "60s") -> Path:
    """Labels: `primary` tried first (the bottom entry), `second` as its fallback; one
    request in flight on each (the photos waiting for the fallback when the primary comes
    back are few)."""
    primary_url = primary if isinstance(primary, str) else primary.url
    path = tmp_path / "vision.yml"
    path.write_text(
        "Models:\n"
        "  - Type: labels\n    Default: true\n    Disabled: true\n"
        "  - Type: caption\n    Default: true\n    Disabled: true\n"
        "  - Type: labels\n    Engine: ollama\n    Model: second\n"
        f"    Service: {{Uri: \"{second.url}\", Timeout: 10s, Parallel: 1}}\n"
        "  - Type: labels\n    Engine: ollama\n    Model: primary\n"
        f"    Service: {{Uri: \"{primary_url}\", Timeout: {TIMEOUT:g}s, ConnectTimeout: 1s,"
        " Parallel: 1}\n"
        f"Fallback: {{Open: {open_for}{extra}}}\n"
    )
    return path


def servers() -> tuple[OllamaServer, OllamaServer]:
    primary = OllamaServer(models=["primary:latest"], latency=0.01)
    second = OllamaServer(models=["second:latest"], latency=0.01)
    primary.respond(labels("primary-label"))
    second.respond(labels("second-label"))
    return primary.start(), second.start()


def scan(tmp_path: Path, cfg: Path) -> Ndjson:
    result = runner.invoke(app, ["scan", str(tmp_path / "photos"), "--json", "--state",
                                 str(tmp_path / "state.db"), "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    return parse_ndjson(result.stdout)


def by_model(out: Ndjson) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in out.records:
        model = record["models"].get("labels", "none")
        counts[model] = counts.get(model, 0) + 1
    return counts


def test_a_wedged_server_costs_a_few_timeouts_and_the_fallback_answers_every_photo(
        tmp_path: Path) -> None:
    write_photos(tmp_path / "photos", 90, per_folder=30)
    primary, second = servers()
    url = primary.url
    try:
        primary.wedge(after=20)
        started = time.monotonic()
        out = scan(tmp_path, vision_yml(tmp_path, primary, second))
        seconds = time.monotonic() - started
    finally:
        primary.stop()
        second.stop()
    assert out.summary["done"] == 90 and out.summary["failed"] == 0
    counts = by_model(out)
    assert counts == {PRIMARY: 20, SECOND: 70}, counts
    # The wedged server was sent exactly `failures` requests: then its breaker opened.
    assert primary.wedged_requests == 3
    (service,) = out.summary["services"]
    assert service["opened"] == 1 and service["state"] == "open"
    assert service["endpoint"] == f"ollama {url}"
    assert service["lost_seconds"] <= 4 * TIMEOUT, service
    assert service["skipped"] >= 60
    assert seconds < 20 * TIMEOUT  # without the breaker: 70 timeouts
    fell_back = [r for r in out.records if r["models"]["labels"] == SECOND]
    assert all(r["fallback"] == {"labels": [PRIMARY]} for r in fell_back)
    assert all(r["fallback"] == {} for r in out.records if r["models"]["labels"] == PRIMARY)
    assert all(r["labels"][0]["name"] == "Second-Label" for r in fell_back)


def test_photos_go_back_to_the_server_within_one_probe_period(tmp_path: Path) -> None:
    write_photos(tmp_path / "photos", 200, per_folder=50)
    primary, second = servers()
    open_for = 3.0
    back_at: list[float] = []
    primary_answers: list[float] = []
    second_answers: list[float] = []

    def on_primary(request: RecordedRequest) -> Reply:
        primary_answers.append(time.monotonic())
        return Reply(labels("primary-label"))

    def on_second(request: RecordedRequest) -> Reply:
        second_answers.append(time.monotonic())
        time.sleep(0.02)  # the fallback is slower than the GPU, as a CPU classifier is
        if len(second_answers) == 30:
            back_at.append(time.monotonic())
            primary.unwedge()
        return Reply(labels("second-label"))

    primary.respond(on_primary)
    second.respond(on_second)
    try:
        primary.wedge(after=5)
        out = scan(tmp_path, vision_yml(tmp_path, primary, second, open_for=f"{open_for:g}s"))
    finally:
        primary.stop()
        second.stop()
    assert back_at, by_model(out)
    assert out.summary["done"] == 200 and out.summary["failed"] == 0
    (service,) = out.summary["services"]
    assert service["state"] == "closed" and service["opened"] == 1, service
    again = [t for t in primary_answers if t > back_at[0]]
    assert again, by_model(out)
    # Asked again within one probe period of coming back ...
    assert again[0] - back_at[0] <= open_for + 1.0
    # ... and from then on every new photo goes to it (the fallback only finishes the ones
    # it already had).
    assert not [t for t in second_answers if t > again[0] + 0.5]
    assert by_model(out)[PRIMARY] == 5 + len(again)


def _add_user_keyword(sidecar: str, keyword: str) -> None:
    subprocess.run(["exiftool", "-q", "-overwrite_original", f"-XMP-dc:Subject+={keyword}",
                    sidecar], check=True)


@pytest.mark.skipif(shutil.which("exiftool") is None and not os.environ.get(
    "XMPVISION_REQUIRE_READERS"), reason="exiftool is not installed")
def test_a_rerun_upgrades_exactly_the_photos_the_fallback_answered(tmp_path: Path) -> None:
    write_photos(tmp_path / "photos", 40, per_folder=20)
    primary, second = servers()
    try:
        primary.wedge(after=10)
        cfg = vision_yml(tmp_path, primary, second)
        first = scan(tmp_path, cfg)
        fell_back = sorted(r["path"] for r in first.records
                           if r["models"]["labels"] == SECOND)
        assert len(fell_back) == 30
        owner = fell_back[0]
        _add_user_keyword(sidecar_of(owner), "Grandma")
        primary.unwedge()
        primary.clear()
        second.clear()

        second_run = scan(tmp_path, cfg)
        upgraded = sorted(r["path"] for r in second_run.records if r.get("upgraded"))
        assert upgraded == fell_back
        assert len(primary.generate_requests()) == 30 and not second.generate_requests()
        assert second_run.summary["upgraded"] == 30

        third = scan(tmp_path, cfg)  # nothing left to upgrade
        assert third.summary["upgraded"] == 0 and not primary.generate_requests()[30:]
    finally:
        primary.stop()
        second.stop()
    (data,) = exiftool_json([sidecar_of(owner)])
    subjects = as_list(data.get("Subject"))
    assert "Grandma" in subjects and "Primary-Label" in subjects
    assert "Second-Label" not in subjects  # the fallback's keyword was ours: replaced
    untouched = next(r["path"] for r in first.records if r["models"]["labels"] == PRIMARY)
    (kept,) = exiftool_json([sidecar_of(untouched)])
    assert as_list(kept.get("Subject")) == ["Primary-Label"]


def test_upgrade_false_leaves_the_fallback_answers(tmp_path: Path) -> None:
    write_photos(tmp_path / "photos", 12, per_folder=12)
    primary, second = servers()
    try:
        primary.wedge(after=2)
        cfg = vision_yml(tmp_path, primary, second, extra=", Upgrade: false")
        scan(tmp_path, cfg)
        primary.unwedge()
        primary.clear()
        again = scan(tmp_path, cfg)
    finally:
        primary.stop()
        second.stop()
    assert again.summary["upgraded"] == 0 and again.summary["unchanged"] == 12
    assert not primary.generate_requests()


def test_while_the_server_stays_down_a_rerun_asks_the_fallback_nothing(
        tmp_path: Path) -> None:
    write_photos(tmp_path / "photos", 40, per_folder=40)
    primary, second = servers()
    cfg = vision_yml(tmp_path, primary, second)
    try:
        primary.wedge(after=2)
        scan(tmp_path, cfg)
    finally:
        primary.stop()
    second.clear()
    try:
        # The primary is gone for good now (connection refused): an upgrade asks only the
        # better model, so the fallback's answers stay and the fallback is asked nothing;
        # once the breaker opened, later photos are not even decoded for it.
        again = scan(tmp_path, cfg)
    finally:
        second.stop()
    assert again.summary["upgraded"] == 0 and again.summary["failed"] == 0
    assert again.summary["unchanged"] == 40
    assert not second.generate_requests()
    (service,) = again.summary["services"]
    # Only photos already in flight when it opened were refused (at most workers + the
    # photos decoded ahead: 6 here); the rest were not even decoded.
    assert service["state"] == "open" and service["skipped"] <= 6


def test_a_server_down_when_the_run_starts_gets_work_once_it_is_up(tmp_path: Path) -> None:
    write_photos(tmp_path / "photos", 120, per_folder=40)
    primary, second = servers()
    url = primary.url
    port = int(url.rsplit(":", 1)[1])
    primary.stop()  # down at the start: connection refused
    started: list[OllamaServer] = []

    def on_second(request: RecordedRequest) -> Reply:
        time.sleep(0.02)
        if len(second.generate_requests()) == 20 and not started:
            back = OllamaServer(models=["primary:latest"], latency=0.01, port=port)
            back.respond(labels("primary-label"))
            started.append(back.start())
        return Reply(labels("second-label"))

    second.respond(on_second)
    try:
        out = scan(tmp_path, vision_yml(tmp_path, url, second, open_for="1s"))
    finally:
        second.stop()
        for server in started:
            server.stop()
    assert started
    assert out.summary["done"] == 120 and out.summary["failed"] == 0
    counts = by_model(out)
    # Not given up for the run: once up, it answered most of the rest.
    assert counts.get(PRIMARY, 0) >= 40, counts
    assert len(started[0].generate_requests()) == counts[PRIMARY]


def test_a_stop_during_a_wedge_waits_only_for_the_requests_already_sent(
        tmp_path: Path) -> None:
    write_photos(tmp_path / "photos", 20, per_folder=20)
    primary, second = servers()
    primary.wedge(after=0)
    stop = threading.Event()
    reporter = Collect()
    config = load_config(vision_yml(tmp_path, primary, second, extra=", Failures: 100"))
    outcome: list[object] = []

    def scan_in_thread() -> None:
        outcome.append(run_scan(config.config, [tmp_path / "photos"], options=RunOptions(),
                                reporter=reporter, state_path=tmp_path / "state.db",
                                stop=stop))

    try:
        runner_thread = threading.Thread(target=scan_in_thread)
        runner_thread.start()
        deadline = time.monotonic() + 10
        while primary.wedged_requests < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        stopped_at = time.monotonic()
        stop.set()
        runner_thread.join(timeout=30)
        waited = time.monotonic() - stopped_at
    finally:
        primary.stop()
        second.stop()
    assert outcome and not runner_thread.is_alive()
    # The one request in flight runs out its timeout; the photos queued behind it for the
    # wedged server's one slot are not sent one after another.
    assert primary.wedged_requests == 1
    assert waited < 2 * TIMEOUT, waited


def test_a_better_model_that_answers_but_unusably_is_not_asked_again(tmp_path: Path) -> None:
    write_photos(tmp_path / "photos", 10, per_folder=10)
    primary, second = servers()
    try:
        primary.wedge(after=2)
        cfg = vision_yml(tmp_path, primary, second)
        scan(tmp_path, cfg)
        primary.unwedge()
        primary.clear()
        primary.garbage(times=100)  # up again, but its answers are not JSON
        again = scan(tmp_path, cfg)
        asked = len(primary.generate_requests())
        third = scan(tmp_path, cfg)
    finally:
        primary.stop()
        second.stop()
    assert again.summary["upgraded"] == 0 and again.summary["failed"] == 0
    assert asked == 8  # the fallback's photos, asked once
    # Not down, so not retried every night: the fallback's labels stay.
    assert len(primary.generate_requests()) == asked and third.summary["unchanged"] == 10


def test_a_type_whose_only_server_is_down_at_the_start_is_served_once_it_is_up(
        tmp_path: Path) -> None:
    write_photos(tmp_path / "photos", 60, per_folder=60)
    port = free_port()
    labeller = OllamaServer(models=["second:latest"], latency=0.1).start()
    labeller.respond(labels("second-label"))
    config = tmp_path / "vision.yml"
    config.write_text(
        "Models:\n"
        "  - Type: labels\n    Model: second\n"
        f"    Service: {{Uri: \"{labeller.url}\"}}\n"
        "  - Type: caption\n    Model: primary\n"
        f"    Service: {{Uri: \"http://127.0.0.1:{port}\", Timeout: 2s, ConnectTimeout: 1s}}\n"
        "Fallback: {Open: 1s}\n")
    late: list[OllamaServer] = []

    def start_later() -> None:
        time.sleep(1.0)
        late.append(OllamaServer(models=["primary:latest"], latency=0.01, port=port).start())

    starter = threading.Thread(target=start_later)
    starter.start()
    try:
        result = runner.invoke(app, ["scan", str(tmp_path / "photos"), "--json", "--state",
                                     str(tmp_path / "state.db"), "--config", str(config)])
    finally:
        starter.join()
        labeller.stop()
        for server in late:
            server.stop()
    out = parse_ndjson(result.stdout)
    captioned = [r for r in out.records if r["caption"]]
    # The first photos get labels only (their caption is retried next run); once the caption
    # server is up, it is asked again: the rest get captions too.
    assert len(captioned) >= 15, out.summary
    assert all(r["labels"] for r in out.records)
    assert len(late[0].generate_requests()) == len(captioned)
