"""The root of every error hanrig raises on purpose, and the exit code each kind maps to.

Each package has its own ``exceptions.py`` whose classes derive from one of the three kinds below.
The CLI maps them to exit codes in one place (``gateway/cli``), per ``cli.md``:
0 done, 1 a check ran and failed, 2 bad usage or bad input, 3 radio/device unreachable or timeout.
This module sits outside the five packages because the pure libraries (``ota``, ``certs``) and the
radio layer (``hal``) must share the root without importing each other.

It also holds the one TOML reading of rig files (:func:`parse_toml`) and the one reader of the files a
user names (:func:`read_input`), whose refusals are
:class:`BadInput`: a bench tool is pointed at half-built firmware and odd files all day. Every file
argument (CLI options, rig-file references, ``sim://?rig=FILE``) is read through it; it refuses FIFOs,
devices and directories at once (a ``stat`` never blocks, an ``open`` of a FIFO would), and refuses a
file larger than the cap for its kind before reading a byte of it (a 2 GB sparse file is never read).
:class:`TomlReader` is the one set of typed value readers over a parsed rig file, shared by the rig
loader (``rigs.rigfile``) and the simulator's loader (``hal.sim.config``); with :func:`toml_key_line`
(the line of a key path) both say ``file:line: key.path: problem``.

And it holds the one spelling of EUI-64s that every layer shares (:func:`parse_eui64`, :func:`eui64_bytes`,
:func:`eui64_text`): the CLI contract's ``00:0d:6f:00:0a:bc:12:34``, and the same octets in that order as
certificates (Entity IDs) and GBCS headers carry them (not zigpy's little-endian ``EUI64``).
"""

from __future__ import annotations

import enum
import os
import re
import stat
import tomllib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any


class HanrigError(Exception):
    """Base of all hanrig errors; ``exit_code`` is what the CLI exits with."""

    exit_code: int = 2


class CheckFailed(HanrigError):
    """A check ran and its subject failed it (an invalid image, a failed verification)."""

    exit_code = 1


class BadInput(HanrigError):
    """Bad usage or malformed input: an unreadable file, a malformed rig file, a bad URL."""

    exit_code = 2


class Unreachable(HanrigError):
    """A radio or device did not answer, or an operation timed out."""

    exit_code = 3


# ------------------------------------------------------------------------------ reading user files
KIB = 1024
MIB = 1024 * KIB
# The largest real OTA images are a few MB (Zigbee OTA files for Linux-class IHDs reach ~8 MB); twice
# that leaves headroom without letting a stray disk image be read into memory.
OTA_IMAGE_MAX = 16 * MIB
CERT_MAX = 64 * KIB  # an SMKI certificate is < 1 KB, a PEM bundle of a whole chain a few KB
KEY_MAX = 64 * KIB
RIG_FILE_MAX = 1 * MIB
CPL_MAX = 16 * MIB  # the CPL's published CSV is a few MB
INDEX_MAX = 16 * MIB
INPUT_FILE_MAX = 16 * MIB  # any other file a command reads whole (backups, GBCS messages, ...)


class BadInputFile(BadInput):
    """A file argument that is missing, not a regular file, too large or unreadable."""

    def __init__(self, path: str | os.PathLike[str], problem: str, what: str = "") -> None:
        label = f"{what} {os.fspath(path)}" if what else os.fspath(path)
        super().__init__(f"{label}: {problem}")
        self.path = os.fspath(path)
        self.problem = problem


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def regular_file_problem(path: str | os.PathLike[str], limit: int | None = None) -> str | None:
    """Why ``path`` cannot be read as an input file (None when it can); never blocks, never reads."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "cannot read: does not exist"
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    if not stat.S_ISREG(info.st_mode):
        return f"is {_kind(info.st_mode)}, not a regular file"
    if limit is not None and info.st_size > limit:
        return f"is {info.st_size} bytes, more than the {_size(limit)} allowed"
    return None


def check_regular_file(path: str | os.PathLike[str], *, limit: int | None = None, what: str = "") -> Path:
    """``path`` as a Path if it is a regular file within ``limit`` bytes, else :class:`BadInputFile`."""
    problem = regular_file_problem(path, limit)
    if problem is not None:
        raise BadInputFile(path, problem, what)
    return Path(path)


def read_input(path: str | os.PathLike[str], *, limit: int, what: str = "") -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them, else :class:`BadInputFile`.

    The file is opened non-blocking and checked again on the open descriptor, so a path swapped for a
    FIFO between the check and the open cannot hang the read, and a file that grows past the cap while
    being read is refused rather than read without bound."""
    check_regular_file(path, limit=limit, what=what)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise BadInputFile(path, f"cannot read: {exc.strerror or exc}", what) from None
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise BadInputFile(path, f"is {_kind(mode)}, not a regular file", what)
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise BadInputFile(path, f"cannot read: {exc.strerror or exc}", what) from None
    if len(data) > limit:
        raise BadInputFile(path, f"is more than the {_size(limit)} allowed", what)
    return data


def read_input_text(path: str | os.PathLike[str], *, limit: int, what: str = "") -> str:
    """:func:`read_input` decoded as UTF-8 (a file that is not UTF-8 is :class:`BadInputFile`)."""
    data = read_input(path, limit=limit, what=what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInputFile(path, f"not UTF-8 text (byte {exc.start})", what) from None


HEX_DIGITS = frozenset("0123456789abcdef")


def parse_eui64(text: str) -> str | None:
    """Normalise an EUI-64 (16 hex digits, ':'/'-' separators optional) to "00:0d:6f:..", or None."""
    digits = text.replace(":", "").replace("-", "").lower()
    if len(digits) != 16 or not HEX_DIGITS.issuperset(digits):
        return None
    return ":".join(digits[i:i + 2] for i in range(0, 16, 2))


def eui64_bytes(text: str) -> bytes:
    """``"00:0d:6f:.."`` (or bare hex digits) -> its octets in the order written (an Entity ID's,
    big-endian); ValueError when it is not hex."""
    return bytes.fromhex(text.replace(":", ""))


def eui64_text(raw: bytes) -> str:
    """Octets in the order written -> ``"90:b3:d5:1f:30:01:00:02"`` (any length; 8 for a valid Entity ID)."""
    return raw.hex(":")


class TomlSyntaxError(ValueError):
    """Text that is not valid TOML: ``problem`` as tomllib says it, ``line`` when tomllib names one."""

    def __init__(self, problem: str, line: int | None) -> None:
        super().__init__(problem)
        self.problem, self.line = problem, line


def parse_toml(text: str) -> dict[str, Any]:
    """The one TOML reading of rig files, for ``rigs.rigfile`` and the simulator's ``[sim]`` tables
    (``hal.sim.config``) alike: ``TomlSyntaxError`` carries the problem and its line."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"at line (\d+)", str(exc))
        raise TomlSyntaxError(f"not valid TOML: {exc}", int(match.group(1)) if match else None) from None


def _size(limit: int) -> str:
    if limit >= MIB and limit % MIB == 0:
        return f"{limit // MIB} MiB"
    if limit >= KIB and limit % KIB == 0:
        return f"{limit // KIB} KiB"
    return f"{limit} bytes"


# ------------------------------------------------------------------------ where a TOML key is
def toml_key_line(lines: list[str], key: str, array_tables: frozenset[str] | set[str]) -> int | None:
    """Best-effort line of a key path such as ``devices[2].sim.clock`` or ``plan.steps[0].step``.

    tomllib reports lines only for syntax errors, so this walks the text: find the N-th header of
    the array table (or the table's header), then each key of the rest of the path below it. When
    a part cannot be found (an inline table, an array element) the last line found stands.
    """
    parts = re.findall(r"[^.\[\]]+|\[\d+\]", key)
    header, index, rest = None, 0, parts
    for name in sorted(array_tables, key=len, reverse=True):
        words = name.split(".")
        if parts[:len(words)] == words and len(parts) > len(words) and parts[len(words)].startswith("["):
            header, index, rest = name, int(parts[len(words)][1:-1]), parts[len(words) + 1:]
            break
    else:
        if len(parts) > 1:
            header, rest = parts[0], parts[1:]
    found: int | None = None
    begin, stop = 0, len(lines)
    if header is not None:
        pattern = (rf"^\s*\[\[\s*{re.escape(header)}\s*\]\]" if header in array_tables
                   else rf"^\s*\[\s*{re.escape(header)}\s*\]")
        hits = [n for n, line in enumerate(lines) if re.match(pattern, line)]
        if index >= len(hits):
            return None
        found = hits[index]
        begin = found + 1
        # The table ends at the next header that is not one of its own sub-tables.
        own = re.compile(rf"^\s*\[\s*{re.escape(header)}\.")
        stop = next((n for n in range(begin, len(lines))
                     if lines[n].lstrip().startswith("[") and not own.match(lines[n])),
                    len(lines))
    for part in rest:
        if part.startswith("["):
            continue
        pattern = rf"^\s*(?:{re.escape(part)}\s*=|\[\[?\s*(?:[\w.]+\.)?{re.escape(part)}\s*\]\]?)"
        hit = next((n for n in range(begin, stop) if re.match(pattern, lines[n])), None)
        if hit is None:
            break
        found, begin = hit, hit + 1
    return found + 1 if found is not None else None


# ------------------------------------------------------------------ typed reads of a TOML document
RIG_ARRAY_TABLES = frozenset({"radios", "devices", "faults", "plan.steps"})  # the rig file's [[arrays]]


def toml_kind(value: Any) -> str:
    """What a TOML value is, for messages ("expected a string, got an integer")."""
    return {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array",
            dict: "a table"}.get(type(value), type(value).__name__)


class TomlReader:
    """Typed reads of one parsed TOML document (a rig file): each refusal is ``make_error(source, key
    path, problem, line)``, the line found by :func:`toml_key_line` in ``text``."""

    def __init__(self, source: Any, text: str | None,
                 make_error: Callable[[Any, str, str, int | None], Exception],
                 array_tables: frozenset[str] = RIG_ARRAY_TABLES) -> None:
        self.source = source
        self.lines = text.splitlines() if text is not None else []
        self.make_error = make_error
        self.array_tables = array_tables

    def error(self, key: str, problem: str, line: int | None = None) -> Exception:
        if line is None and key:
            line = self.locate(key)
        return self.make_error(self.source, key, problem, line)

    def locate(self, key: str) -> int | None:
        """Best-effort line of a key path such as ``devices[2].sim.clock`` (see :func:`toml_key_line`)."""
        return toml_key_line(self.lines, key, self.array_tables) if self.lines else None

    def check_keys(self, where: str, table: Mapping[str, Any], allowed: Iterable[str]) -> None:
        allowed = set(allowed)
        for key in table:
            if key not in allowed:
                raise self.error(f"{where}.{key}" if where else key,
                                 f"unknown key (expected one of: {', '.join(sorted(allowed))})")

    def table(self, where: str, value: Any) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.error(where, f"expected a table, got {toml_kind(value)}")
        return value

    def array_of_tables(self, where: str, value: Any) -> list[Mapping[str, Any]]:
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.error(where, f"expected an array of tables ([[{where}]]), got {toml_kind(value)}")
        return value

    def string(self, where: str, value: Any, *, empty_ok: bool = False) -> str:
        if not isinstance(value, str):
            raise self.error(where, f"expected a string, got {toml_kind(value)}")
        if not empty_ok and not value.strip():
            raise self.error(where, "must not be empty")
        return value

    def boolean(self, where: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.error(where, f"expected true or false, got {toml_kind(value)}")
        return value

    def integer(self, where: str, value: Any, lo: int, hi: int, *, text_ok: bool = False) -> int:
        """An integer in ``lo..hi``; ``text_ok`` also takes one written as a string ("0x0101", "12")."""
        if text_ok and isinstance(value, str):
            try:
                value = int(value, 0)
            except ValueError:
                raise self.error(where, f"{value!r} is not an integer") from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(where, f"expected an integer, got {toml_kind(value)}")
        if not lo <= value <= hi:
            raise self.error(where, f"{value} outside {lo}..{hi}")
        return value

    def number(self, where: str, value: Any, lo: float = 0.0, hi: float = float("inf")) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(where, f"expected a number, got {toml_kind(value)}")
        if not lo <= value <= hi:
            raise self.error(where, f"{value} outside {lo:g}..{hi:g}")
        return float(value)

    def choice(self, where: str, value: Any, kind: type[enum.StrEnum]) -> Any:
        text = self.string(where, value, empty_ok=True)
        try:
            return kind(text)
        except ValueError:
            raise self.error(where, f"{text!r} is not one of {' | '.join(m.value for m in kind)}") from None
