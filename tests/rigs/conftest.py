"""Shared builders for the rigs tests: a realistic finished run on the default bench."""

from __future__ import annotations

from pathlib import Path

import pytest
from rigs_testlib import build_run

from rigs.records import RunRecord
from rigs.rigfile import Rig, default_rig


@pytest.fixture
def bench() -> Rig:
    return default_rig(base_dir=Path("/nonexistent-base"))


@pytest.fixture
def finished_run(bench: Rig) -> RunRecord:
    return build_run(bench)


@pytest.fixture
def make_run():
    """``build_run`` as a fixture, for tests that need variations of the finished run."""
    return build_run


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request, tmp_path) -> str:
    """Where a results store goes, once per backend: a SQLite results directory, a PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "results")
    return request.getfixturevalue("postgres_url")
