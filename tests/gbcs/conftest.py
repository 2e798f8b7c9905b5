"""Shared fixtures for the GBCS tests: the DCC's RTDS sample and its TEST-ONLY keystore.

CI checks out shared/ beside the clone (as for the OTA corpus); ``HANRIG_SHARED_DIR`` points elsewhere
(a worktree). The reference files are never committed into hanrig; without them these tests skip.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

import gbcs

SHARED = Path(os.environ.get("HANRIG_SHARED_DIR", Path(__file__).resolve().parents[2] / "../shared"))
RTDS = SHARED / "gbcs-rtds"
NAME = re.compile(r"^(?P<use_case>[A-Za-z0-9]+)_(?P<srv>[0-9.]+|NA)_(?:(?P<alert>[0-9A-F]{4})_)?(?P<rest>.*)"
                  r"_(?P<kind>COMMAND|PRECOMMAND|RESPONSE|ALERT)(?:_(?P<extra>[A-Z_]+))?_GBCS\.HEX$")


@dataclass(frozen=True)
class Reference:
    """One RTDS file and what its name says."""

    path: Path
    data: bytes
    use_case: str
    kind: str             # COMMAND, PRECOMMAND, RESPONSE, ALERT
    alert_code: int | None
    scenario: str

    @property
    def name(self) -> str:
        return self.path.name


def load_references() -> list[Reference]:
    if not (RTDS / "messages").is_dir():
        return []
    found = []
    for path in sorted((RTDS / "messages").glob("*/*.HEX")):
        match = NAME.match(path.name)
        assert match, f"unexpected RTDS file name {path.name}"
        alert_code = int(match["alert"], 16) if match["alert"] else None
        found.append(Reference(path, bytes.fromhex(path.read_text().strip()), match["use_case"],
                               match["kind"], alert_code, match["rest"]))
    return found


REFERENCES = load_references()


def reference_params() -> list:
    if not REFERENCES:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"RTDS sample not present at {RTDS}"))]
    return [pytest.param(ref, id=ref.name.removesuffix("_GBCS.HEX")) for ref in REFERENCES]


@pytest.fixture(scope="session")
def references() -> list[Reference]:
    if not REFERENCES:
        pytest.skip(f"RTDS sample not present at {RTDS}")
    return REFERENCES


@pytest.fixture(scope="session")
def keystore_dir() -> Path:
    if not (RTDS / "keystore").is_dir():
        pytest.skip(f"RTDS keystore not present at {RTDS}")
    return RTDS / "keystore"


@pytest.fixture(scope="session")
def security(keystore_dir: Path) -> gbcs.Security:
    return gbcs.Security(gbcs.Keystore(keystore_dir))


def by_name(references: list[Reference], fragment: str) -> Reference:
    matches = [ref for ref in references if fragment in ref.name]
    assert len(matches) == 1, (fragment, [m.name for m in matches])
    return matches[0]
