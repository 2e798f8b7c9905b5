"""Fix 10 of ``hal/zigpy_fixes.py`` (``struct_without_signature_bind``): building a zigpy ``Struct`` without
``inspect.Signature.bind`` gives exactly what zigpy's own ``Struct.__new__`` gives, for every Struct class of
zigpy, bellows and hanrig, called positionally, by keyword, mixed, with fields missing, with arguments too
many, unknown or doubled, and as a copy: the same attributes in the same order with the same values and
types, or the same exception type and message."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import bellows
import pytest
import zigpy
import zigpy.types as zigpy_t

from hal import zigpy_fixes

SENTINEL = object()


def _import_all(package: Any) -> None:
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if "test" in module.name or module.name.endswith("__main__"):
            continue
        try:
            importlib.import_module(module.name)
        except Exception:  # optional modules (e.g. needing other radios) and unbuildable samples: skipped
            continue


def _struct_classes() -> list[type]:
    _import_all(zigpy)
    _import_all(bellows)
    importlib.import_module("hal.se_clusters")
    found: dict[str, type] = {}
    stack = [zigpy_t.Struct]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            stack.append(sub)
            if hasattr(sub, "_signature") and sub is not zigpy_t.IntStruct:
                found.setdefault(f"{sub.__module__}.{sub.__qualname__}", sub)
    return [found[name] for name in sorted(found)]


STRUCTS = _struct_classes()


def _sample(field: Any) -> Any:
    """A value zigpy can convert to the field's type, else None (a field zigpy leaves unset)."""
    for candidate in (lambda: field.type(), lambda: field.type(1), lambda: field.type(b"")):
        try:
            return candidate()
        except Exception:  # optional modules (e.g. needing other radios) and unbuildable samples: skipped
            continue
    return None


def _shape(value: Any) -> Any:
    """A value as comparable data: its type and contents, recursively (some zigpy classes nested in
    structs, e.g. ``AttributeReportingConfig``, compare by identity)."""
    if isinstance(value, int | float | str | bytes) or value is None:
        return (type(value), value)
    if isinstance(value, list | tuple):
        return (type(value), [_shape(item) for item in value])
    if hasattr(value, "__dict__"):
        return (type(value), [(name, _shape(item)) for name, item in vars(value).items()])
    return (type(value), value)


def _outcome(build: Any) -> tuple[Any, ...]:
    try:
        built = build()
    except Exception as exc:
        return ("raised", type(exc), str(exc))
    return ("built", _shape(built))


def _calls(cls: type) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    fields = list(cls.fields)
    values = [_sample(f) for f in fields]
    names = [f.name for f in fields]
    half = len(fields) // 2
    calls = [
        ("positional", tuple(values), {}),
        ("keyword", (), dict(zip(names, values, strict=True))),
        ("mixed", tuple(values[:half]), dict(zip(names[half:], values[half:], strict=True))),
        ("missing", tuple(values[:half]), {}),
        ("nothing", (), {}),
        ("one too many", (*values, values[0] if values else 1), {}),
        ("unknown keyword", tuple(values), {"no_such_field": 1}),
        ("ints", tuple(range(1, len(fields) + 1)), {}),
        ("wrong types", tuple(SENTINEL for _ in fields), {}),
    ]
    if fields:
        calls.append(("doubled", tuple(values[:1]), {names[0]: values[0]}))
    return calls


def _both_ways(monkeypatch: pytest.MonkeyPatch, cls: type, args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    outcomes = []
    for new in (zigpy_fixes._ORIGINAL_STRUCT_NEW, zigpy_fixes._struct_new):
        monkeypatch.setattr(zigpy_t.Struct, "__new__", new)
        outcomes.append(_outcome(lambda: cls(*args, **kwargs)))
    return outcomes[0], outcomes[1]


@pytest.mark.parametrize("cls", STRUCTS, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_a_struct_is_built_as_zigpy_builds_it(cls: type, monkeypatch: pytest.MonkeyPatch) -> None:
    built = 0
    for what, args, kwargs in _calls(cls):
        zigpys, fixed = _both_ways(monkeypatch, cls, args, kwargs)
        assert fixed == zigpys, (what, args, kwargs)
        if zigpys[0] != "built":
            continue
        built += 1
        monkeypatch.setattr(zigpy_t.Struct, "__new__", zigpy_fixes._ORIGINAL_STRUCT_NEW)
        original = cls(*args, **kwargs)
        for copy_kwargs in ({}, {cls.fields[0].name: None} if cls.fields else {"x": 1}):  # copies
            zigpys, fixed = _both_ways(monkeypatch, cls, (original,), copy_kwargs)
            assert fixed == zigpys, ("copy", copy_kwargs)
    assert built, "no call built this struct: the comparison proved nothing for it"


def test_the_enumeration_covers_the_hot_path_structs() -> None:
    names = {f"{c.__module__}.{c.__qualname__}" for c in STRUCTS}
    assert len(STRUCTS) > 100
    assert "zigpy.zcl.foundation.ZCLHeader" in names
    assert any(name.endswith("EmberApsFrame") for name in names)


def test_fix_10_is_installed_by_apply() -> None:
    zigpy_fixes.apply()
    assert zigpy_t.Struct.__new__ is zigpy_fixes._struct_new
