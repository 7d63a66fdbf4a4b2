"""The result protocol between a guest scenario and the host: JSON between two marker lines.

A scenario prints, on its stdout, ``RESULT_BEGIN``, one JSON document, ``RESULT_END`` (`emit` does
it); the host finds the last such block in the scenario's output (`parse_result`).  Anything else the
scenario prints is its log, kept in `VmResult.output`.
"""

from __future__ import annotations

import json
import sys
from typing import Any

RESULT_BEGIN = "----- FABRIC-VM-RESULT BEGIN -----"
RESULT_END = "----- FABRIC-VM-RESULT END -----"


def emit(data: Any) -> None:
    """Print `data` as the scenario's structured result (guest side)."""
    sys.stdout.write(f"{RESULT_BEGIN}\n{json.dumps(data, sort_keys=True)}\n{RESULT_END}\n")
    sys.stdout.flush()


def parse_result(output: str) -> Any:
    """The JSON of the last complete result block in `output`, or None when there is none.

    Raises `ValueError` when a block is there but is not valid JSON.
    """
    end = output.rfind(RESULT_END)
    if end < 0:
        return None
    begin = output.rfind(RESULT_BEGIN, 0, end)
    if begin < 0:
        return None
    return json.loads(output[begin + len(RESULT_BEGIN) : end])
