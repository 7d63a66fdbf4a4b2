"""`python -m lab.sonic NODE.json`: run the SONiC stand-in of one lab switch (started by `fabric lab up`)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path

from lab.sonic.standin import StandIn


def main(argv: list[str] | None = None) -> int:
    """Entry point: the node record written by `fabric lab up`; runs until killed."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m lab.sonic NODE.json", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(StandIn(json.loads(Path(args[0]).read_text())).run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
