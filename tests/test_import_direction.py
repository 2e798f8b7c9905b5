"""Imports go one way (issue 18): the layers of README's layout table, checked on the source.

* ``hal`` never imports ``gateway``, ``rigs`` or ``gbcs``;
* ``ota``, ``certs`` and ``gbcs`` (pure libraries) import none of ``hal``, ``gateway`` or ``rigs``;
* ``rigs`` never imports ``hal.sim`` or zigpy (it speaks to the ``Gateway``);
* nothing imports ``gateway.cli`` but the CLI itself (the ``hanrig`` entry point);
* ``gateway.cli`` talks only to the ``Gateway``: it never opens a radio itself (``hal.open_radio``),
  never reaches a session's zigpy applications (``.apps``) and never imports ``zigpy.application``.

Every import statement counts, including those inside functions and under ``TYPE_CHECKING``: a lazy
import is still a dependency. Relative imports are resolved against the importing module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hal", "gateway", "rigs", "ota", "certs", "gbcs")

# (importing package, forbidden module prefixes)
RULES: dict[str, tuple[str, ...]] = {
    "hal": ("gateway", "rigs", "gbcs"),
    "ota": ("hal", "gateway", "rigs"),
    "certs": ("hal", "gateway", "rigs"),
    "gbcs": ("hal", "gateway", "rigs"),
    "rigs": ("hal.sim", "zigpy", "bellows", "gateway.cli"),
    "gateway": ("gateway.cli",),  # except gateway.cli itself: see below
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports (``from a import b`` counts as ``a`` and ``a.b``)."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            found.add(prefix)
            found.update(f"{prefix}.{alias.name}" for alias in node.names)
    return found


def breaches(module: str, imports: set[str]) -> list[str]:
    top = module.split(".")[0]
    if module == "gateway.cli" or module.startswith("gateway.cli."):
        return []
    forbidden = RULES.get(top, ())
    return sorted(name for name in imports
                  if any(name == f or name.startswith(f + ".") for f in forbidden))


def source_files() -> list[Path]:
    return sorted(p for package in PACKAGES if (ROOT / package).is_dir()
                  for p in (ROOT / package).rglob("*.py"))


def test_the_rules_see_every_package() -> None:
    files = source_files()
    assert {module_name(p).split(".")[0] for p in files} >= {"hal", "gateway", "rigs", "ota", "certs"}


@pytest.mark.parametrize("path", source_files(), ids=lambda p: module_name(p))
def test_imports_go_one_way(path: Path) -> None:
    module = module_name(path)
    bad = breaches(module, imported_modules(path))
    assert not bad, f"{module} imports {', '.join(bad)} ({path.relative_to(ROOT)}): against the layering"


def test_the_checker_catches_what_it_should() -> None:
    """The checker itself: each kind of breach is seen, relative imports included."""
    assert breaches("rigs.steps", {"zigpy.exceptions"}) == ["zigpy.exceptions"]
    assert breaches("rigs.reports.jsonrec", {"gateway.cli.common"}) == ["gateway.cli.common"]
    assert breaches("hal.gbhrgp", {"certs.model", "gateway.session"}) == ["gateway.session"]
    assert breaches("certs.model", {"hal.roles"}) == ["hal.roles"]
    assert breaches("gateway.cli.rig_cmds", {"gateway.cli.common", "rigs.runner"}) == []
    assert breaches("rigs.runner", {"hal", "hal.roles", "gateway.session"}) == []


# What the CLI must not touch: the radio layer's opener and the session's zigpy application objects.
CLI_FORBIDDEN_ATTRIBUTES = frozenset({"open_radio", "apps"})


def cli_reaches_around_the_gateway(source: str, filename: str = "<cli>") -> list[str]:
    """Where CLI source reaches a zigpy application other than through ``Gateway`` (line: what)."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Attribute) and node.attr in CLI_FORBIDDEN_ATTRIBUTES:
            found.append(f"{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "hal" and any(
                alias.name in CLI_FORBIDDEN_ATTRIBUTES for alias in node.names):
            found.append(f"{node.lineno}: from hal import {', '.join(a.name for a in node.names)}")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"{node.lineno}: import {n}" for n in names if n.startswith("zigpy.application")]
    return found


@pytest.mark.parametrize("path", sorted((ROOT / "gateway" / "cli").rglob("*.py")), ids=lambda p: p.name)
def test_the_cli_talks_only_to_the_gateway(path: Path) -> None:
    bad = cli_reaches_around_the_gateway(path.read_text(), str(path))
    assert not bad, f"{path.relative_to(ROOT)} goes around the Gateway: {'; '.join(bad)}"


def test_the_cli_checker_catches_what_it_should() -> None:
    assert cli_reaches_around_the_gateway("async with hal.open_radio(url) as app: pass") == ["1: .open_radio"]
    assert cli_reaches_around_the_gateway("app = gw.apps['radio0']") == ["1: .apps"]
    assert cli_reaches_around_the_gateway("import zigpy.application") == ["1: import zigpy.application"]
    assert cli_reaches_around_the_gateway("from hal import open_radio") == ["1: from hal import open_radio"]
    assert cli_reaches_around_the_gateway("await gw.network.scan([], 4)") == []
