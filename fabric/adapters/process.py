"""The one place fabric runs subprocesses.

Every other module calls `run` (or `run_checked`), so timeouts, logging and error mapping are decided
once.  Arguments are always an argv list: no shell, so nothing from a document can be interpreted as
shell syntax.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from os import PathLike

from fabric.errors import ApplyError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class Result:
    """What a finished command returned. `rc` is -1 when it timed out or could not start."""

    argv: tuple[str, ...]
    rc: int
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def describe(self) -> str:
        """One line for errors and logs: the command, its status and the end of its stderr."""
        status = "timed out" if self.timed_out else f"exit {self.rc}"
        tail = (self.stderr or self.stdout).strip().splitlines()[-5:]
        return f"{' '.join(self.argv)}: {status}" + (": " + " | ".join(tail) if tail else "")


def run(
    argv: Sequence[str | PathLike[str]],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> Result:
    """Run `argv` to completion; never raises for a non-zero exit, a timeout or a missing program."""
    args = tuple(str(a) for a in argv)
    start = time.monotonic()
    try:
        proc = subprocess.run(  # noqa: S603 - argv list, no shell
            args,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return Result(args, -1, out, err, time.monotonic() - start, timed_out=True)
    except OSError as exc:  # program missing, not executable
        return Result(args, -1, "", f"{exc.strerror or exc}", time.monotonic() - start)
    result = Result(args, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)
    log.debug("ran %s -> %d in %.3fs", args[0], result.rc, result.seconds)
    return result


def run_checked(
    argv: Sequence[str | PathLike[str]], *, phase: str = "", retryable: bool = False, **kwargs: object
) -> Result:
    """Like `run`, but a failure raises `ApplyError` (a timeout is always retryable)."""
    result = run(argv, **kwargs)  # type: ignore[arg-type]
    if not result.ok:
        raise ApplyError(result.describe(), retryable=retryable or result.timed_out, phase=phase)
    return result


def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdout_path: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start a long-running process (a daemon in the lab); the caller records and later kills its PID."""
    out = open(stdout_path, "ab") if stdout_path else subprocess.DEVNULL  # noqa: SIM115
    try:
        return subprocess.Popen(  # noqa: S603 - argv list, no shell
            [str(a) for a in argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
    finally:
        if stdout_path and not isinstance(out, int):
            out.close()
