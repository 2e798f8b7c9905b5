"""The errors the ``rigs`` package raises on purpose, each one of the three ``hanrig_errors`` kinds."""

from __future__ import annotations

from pathlib import Path

from hanrig_errors import BadInput, CheckFailed, HanrigError, Unreachable


class RigFileError(BadInput):
    """A rig file is unreadable or malformed; the message names the file, the key path and the line."""

    def __init__(self, source: Path | str | None, key: str | None, problem: str, line: int | None = None):
        self.source = source
        self.key = key
        self.problem = problem
        self.line = line
        where = str(source) if source is not None else "<rig>"
        if line is not None:
            where += f":{line}"
        super().__init__(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")


class StoreError(BadInput):
    """The results store cannot be opened or used as asked (bad URL, unknown run, unsupported backend)."""


class CorruptDatabase(StoreError):
    """The results database's table versions disagree with its ``PRAGMA user_version``."""


class MalformedRow(StoreError):
    """A stored row that does not decode (a damaged or hand-edited store); names the run and the problem."""


class UnknownRun(StoreError):
    """No run with that id (or id prefix) is in the results store."""

    def __init__(self, run_id: str, detail: str = "no such run in the results store"):
        self.run_id = run_id
        super().__init__(f"run {run_id}: {detail}")


class RunLocked(StoreError):
    """Someone else is writing (running or resuming) this run: one writer per run (exit 2)."""

    def __init__(self, run_id: str, holder: str):
        self.run_id = run_id
        self.holder = holder
        super().__init__(f"run {run_id}: already being written by {holder}; one writer per run "
                         "(wait for it to finish, or stop it, then resume)")


class OutputError(BadInput):
    """One or more output callbacks (store, JSON, JUnit, HTML, evidence) failed to write their result."""

    def __init__(self, failures: list[tuple[str, str]]):
        self.failures = failures
        super().__init__("; ".join(f"output {name} failed: {why}" for name, why in failures))


class RunNotPassed(CheckFailed):
    """A run asked about with ``--check`` did not finish with PASS."""

    def __init__(self, run_id: str, state: str):
        self.run_id = run_id
        self.state = state
        super().__init__(f"run {run_id}: {state}")


class RunAborted(HanrigError):
    """The operator interrupted the run (Ctrl-C); it is stored as ABORTED (exit 130, like SIGINT)."""

    exit_code = 130


class RigUnreachable(Unreachable):
    """A radio of the rig could not be opened; the run is stored as ERROR (exit 3)."""


class StepError(HanrigError):
    """A step could not run because of the rig (bad parameter, missing feature): the step is ERROR."""

    exit_code = 2
