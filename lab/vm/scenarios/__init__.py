"""Scenario scripts that run inside a `lab.vm.KernelVm` guest (each a stand-alone program)."""

from collections.abc import Callable
from typing import Any

from lab.rig import wait_until


def settle(converged: Callable[[], bool], spec: dict[str, Any]) -> bool:
    """Whether `converged()` held within the spec's `timeout` (default 60 s), polled every 0.5 s.

    A scenario reports "not converged" as data (the host test asserts on it with the guest's log at
    hand) rather than dying on the guest's side, where the traceback would be all the host sees.
    """
    try:
        wait_until(
            converged, timeout=float(spec.get("timeout", 60)), interval=0.5, what="expected routes installed"
        )
    except AssertionError:
        return False
    return True
