"""Run modes: every alias, and PhotoPrism's ShouldRun matrix for every Run value x context."""

from __future__ import annotations

import pytest

from xmpvision.runmodes import ALLOWED_RUN_VALUES, RunMode, parse_run_mode, should_run

R = RunMode
ALL = frozenset(RunMode)


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("auto", R.AUTO), ("", R.AUTO), (None, R.AUTO), ("never", R.NEVER),
        ("manual", R.MANUAL), ("manually", R.MANUAL), ("command", R.MANUAL),
        ("always", R.ALWAYS),
        ("newly-indexed", R.NEWLY_INDEXED), ("on-newly-indexed", R.NEWLY_INDEXED),
        ("indexed", R.NEWLY_INDEXED), ("on-indexed", R.NEWLY_INDEXED),
        ("after-index", R.NEWLY_INDEXED), ("Newly_Indexed", R.NEWLY_INDEXED),
        ("newly indexed", R.NEWLY_INDEXED),
        ("on-demand", R.ON_DEMAND), ("ON_DEMAND", R.ON_DEMAND),
        ("on-schedule", R.ON_SCHEDULE), ("schedule", R.ON_SCHEDULE),
        ("on-index", R.ON_INDEX), ("index", R.ON_INDEX), (" Index ", R.ON_INDEX),
    ],
)
def test_aliases(text: str | None, mode: RunMode) -> None:
    assert parse_run_mode(text) is mode


# Written out, not derived from the code under test: PhotoPrism's values and aliases.
PHOTOPRISM_VALUES = [
    "auto", "never", "manual", "always", "newly-indexed", "on-demand", "on-schedule",
    "on-index", "manually", "command", "on-newly-indexed", "indexed", "on-indexed",
    "after-index", "schedule", "index",
]


def test_unknown_value_is_none_and_allowed_list_is_complete() -> None:
    assert parse_run_mode("sometimes") is None
    assert parse_run_mode("newly_idexed") is None
    assert sorted(ALLOWED_RUN_VALUES) == sorted(PHOTOPRISM_VALUES)


# The contexts each Run value runs in: PhotoPrism's ShouldRun, written out by hand.
EXPECTED: dict[tuple[RunMode, bool], frozenset[RunMode]] = {}
for default in (False, True):
    EXPECTED[(R.AUTO, default)] = frozenset(
        {R.AUTO, R.MANUAL, R.ON_DEMAND, R.ON_SCHEDULE}
        | ({R.ON_INDEX, R.ALWAYS} if default else {R.NEWLY_INDEXED})
    )
    EXPECTED[(R.NEVER, default)] = frozenset()
    EXPECTED[(R.MANUAL, default)] = frozenset({R.MANUAL})
    EXPECTED[(R.ALWAYS, default)] = ALL - {R.NEVER}
    EXPECTED[(R.NEWLY_INDEXED, default)] = frozenset({R.MANUAL, R.NEWLY_INDEXED, R.ON_DEMAND})
    EXPECTED[(R.ON_DEMAND, default)] = frozenset(
        {R.AUTO, R.MANUAL, R.NEWLY_INDEXED, R.ON_DEMAND, R.ON_SCHEDULE}
    )
    EXPECTED[(R.ON_SCHEDULE, default)] = frozenset(
        {R.AUTO, R.MANUAL, R.ON_SCHEDULE, R.ON_DEMAND}
    )
    EXPECTED[(R.ON_INDEX, default)] = frozenset({R.MANUAL, R.ON_INDEX})


@pytest.mark.parametrize("default", [False, True], ids=["model", "builtin"])
@pytest.mark.parametrize("context", list(RunMode), ids=lambda m: f"in-{m.value}")
@pytest.mark.parametrize("run", list(RunMode), ids=lambda m: f"run-{m.value}")
def test_should_run_matrix(run: RunMode, context: RunMode, default: bool) -> None:
    assert should_run(run, context, builtin_default=default) is (
        context in EXPECTED[(run, default)]
    )


def test_auto_classifier_runs_inline_and_ollama_after() -> None:
    # The net effect PhotoPrism describes: cheap built-in inline, Ollama in the worker.
    assert should_run(R.AUTO, R.ON_INDEX, builtin_default=True)
    assert not should_run(R.AUTO, R.NEWLY_INDEXED, builtin_default=True)
    assert should_run(R.AUTO, R.NEWLY_INDEXED, builtin_default=False)
    assert not should_run(R.AUTO, R.ON_INDEX, builtin_default=False)
