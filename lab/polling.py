"""BASELINE ONLY: `fabric switch run` driven by a 10-second polling loop instead of the API's long-poll
watch — metal-core's design (it polls every 10 s), for the lab benchmark (bench/lab.py).

`python -m lab.polling CONFIG [PERIOD]` builds the real daemon (same loop, planner, adapters and status
sink as `fabric switch run`) with `PollingSource`: its `watch` sleeps until the next tick of a fixed
period, then does one plain GET.  Nothing here is used by the product.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from fabric.adapters.api_client import ApiClient
from fabric.model.switch import SwitchState
from fabric.runtime.api import api_client
from fabric.switch.config import SwitchConfig, load_config
from fabric.switch.daemon import build_loop
from fabric.switch.planner import load_planner
from fabric.switch.sources import ApiSink, ApiSource

POLL_PERIOD_S = 10.0


class PollingSource(ApiSource):
    """The API source, polled: one GET per tick of `period` seconds, whatever the watch wait."""

    def __init__(self, client: ApiClient, name: str, period: float = POLL_PERIOD_S) -> None:
        super().__init__(client, name)
        self.period = period

    async def watch(self, since: int, wait: float) -> SwitchState | None:
        """The document at the next tick when its revision passed `since`, else None."""
        loop = asyncio.get_running_loop()
        await asyncio.sleep(self.period - loop.time() % self.period)
        desired = await self.get()
        return desired if desired.revision > since else None


async def _run(cfg: SwitchConfig, period: float) -> None:
    async with api_client(cfg.api) as client:
        planner = load_planner(cfg.frr.vrf_backend, cfg.frr.netns_vrfs_always)
        loop, db = build_loop(cfg, PollingSource(client, cfg.name, period), ApiSink(client), planner)
        try:
            await loop.run()
        finally:
            await db.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point: `python -m lab.polling CONFIG [PERIOD]`."""
    args = sys.argv[1:] if argv is None else argv
    cfg = load_config(Path(args[0]))
    from fabric.runtime.logs import setup_logging

    setup_logging(cfg.log_format)
    asyncio.run(_run(cfg, float(args[1]) if len(args) > 1 else POLL_PERIOD_S))
    return 0


if __name__ == "__main__":
    sys.exit(main())
