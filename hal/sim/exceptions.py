"""Errors raised by the simulated HAN: undeliverable frames and malformed ``[sim]`` rig-file tables."""

from __future__ import annotations

from hanrig_errors import BadInput, Unreachable


class SimDeliveryError(Unreachable):
    """A frame the virtual PAN could not deliver; ``status`` is the MAC/APS status a stick would report."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"simulated HAN: {detail} (status 0x{status:02x})")
        self.status = status
        self.detail = detail


class SimConfigError(BadInput):
    """A rig file's simulator tables are malformed; the message names the file, key path and line."""

    def __init__(self, source: str, key_path: str, problem: str, line: int | None = None) -> None:
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {key_path}: {problem}" if key_path else f"{where}: {problem}")
        self.source = source
        self.key_path = key_path
        self.problem = problem
        self.line = line


class SimStateError(BadInput):
    """An API call made in the wrong lifecycle state of the virtual PAN (names that state)."""
