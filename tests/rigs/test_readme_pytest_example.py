"""The README's pytest example passes as written: the ``test_bench.py`` block under "pytest plugin" is run
by pytest with the plugin, on the built-in simulated bench, with the README's command line."""

from __future__ import annotations

import re
from pathlib import Path

from test_pytest_plugin import pytest_run

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    section = README.read_text().split("### pytest plugin", 1)[1]
    match = re.search(r"```python\n(# test_bench\.py\n.*?)```", section, re.DOTALL)
    assert match, "README: the pytest plugin section has no ```python test_bench.py block"
    return match.group(1)


def test_the_readme_pytest_example_passes_as_written(tmp_path: Path) -> None:
    code, out, outcomes = pytest_run(tmp_path, "--hanrig-results", str(tmp_path / "results"),
                                     tests=readme_example())
    assert code == 0, out
    # one test per device the marker names, each passing
    assert len(outcomes) == 2 and set(outcomes.values()) == {"passed"}, outcomes
    assert (tmp_path / "results" / "results.db").exists()
