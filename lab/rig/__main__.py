"""`python -m lab.rig clean|list`: remove or show what rig runs left behind.

`clean` removes the resources of every ledger whose owner process is dead (never a running test's)
and prints one line per removed item; `list` shows all ledgers, live and dead.
"""

from __future__ import annotations

import argparse
import sys

from lab.rig.run import LEDGER_ROOT, CleanupError, clean_leftovers, find_ledgers, find_leftovers


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (1 when something could not be cleaned)."""
    parser = argparse.ArgumentParser(prog="python -m lab.rig", description=__doc__)
    parser.add_argument("command", choices=("clean", "list"))
    args = parser.parse_args(argv)
    if args.command == "list":
        for ledger in find_ledgers():
            state = "running" if ledger.owner_alive() else "LEFTOVER"
            print(f"{ledger.prefix}  owner pid {ledger.owner_pid}  {state}  {len(ledger.items)} items")
            for item in ledger.items:
                print(f"    {item.describe()}")
        return 0
    leftovers = find_leftovers()
    if not leftovers:
        print(f"nothing to clean under {LEDGER_ROOT}")
        return 0
    try:
        for line in clean_leftovers(leftovers):
            print(f"removed {line}")
    except CleanupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
