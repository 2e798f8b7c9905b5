"""The zigpy patches under docs/upstream/ apply to the installed zigpy (``patch --dry-run`` on a copy)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import zigpy

from hal import zigpy_fixes

PATCHES = sorted((Path(__file__).resolve().parents[2] / "docs" / "upstream").glob("*.patch"))
ZIGPY_SOURCE = Path(zigpy.__file__).resolve().parent.parent


def test_every_patch_names_a_fix_of_the_shim() -> None:
    assert PATCHES
    for patch in PATCHES:
        named = re.search(r"fix (\w+)\)", patch.read_text())
        assert named and named[1] in zigpy_fixes.FIX_NAMES, patch.name
        assert any(patch.name in fix.upstream for fix in zigpy_fixes.FIX_NOTES), patch.name


@pytest.mark.skipif(shutil.which("patch") is None, reason="the patch tool is not installed")
@pytest.mark.parametrize("patch", PATCHES, ids=lambda p: p.name[:4])
def test_the_patch_applies_to_the_installed_zigpy(patch: Path, tmp_path: Path) -> None:
    files = re.findall(r"^\+\+\+ b/(\S+)", patch.read_text(), re.MULTILINE)
    assert files
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ZIGPY_SOURCE / name, tmp_path / name)
    result = subprocess.run(["patch", "-p1", "--dry-run", "-i", str(patch)], cwd=tmp_path,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
