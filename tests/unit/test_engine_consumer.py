"""The engine's one ordered AMI consumer: in order, and never holding the loop for a burst."""

from __future__ import annotations

import asyncio
import threading

from callcore.ami import EVERY, EventRouter
from callcore.asterisk.render import AMI_EVENTS
from callcore.features.reports.service import ReportService
from callcore.instance import Instance
from callcore.wiring import engine as wiring
from callcore.wiring.engine import CONSUME_SLICE, Engine
from config.loader import DEFAULT_PATH


async def test_a_burst_is_handled_in_order_while_routing_still_gets_the_loop(tmp_path):
    engine = Engine(Instance(tmp_path / "home", DEFAULT_PATH))
    seen: list[str] = []
    burst = [{"Event": "Newchannel", "Uniqueid": str(i)} for i in range(10 * CONSUME_SLICE)]
    all_handled = asyncio.Event()

    def handle(ev: dict) -> None:
        seen.append(ev["Uniqueid"])
        if len(seen) == len(burst):
            all_handled.set()

    engine.router = EventRouter()
    engine.router.subscribe({"Newchannel": handle})
    for ev in burst:  # one big read's worth, queued before the consumer runs
        engine.events.put_nowait(ev)
    engine._gate.set()
    handled_when_routing_ran: list[int] = []

    async def routing_request() -> None:  # stands for a FastAGI exchange on the same loop
        await asyncio.sleep(0)
        handled_when_routing_ran.append(len(seen))

    consumer = asyncio.create_task(engine._consume())
    await routing_request()
    await asyncio.wait_for(all_handled.wait(), 10)
    consumer.cancel()
    assert seen == [ev["Uniqueid"] for ev in burst]
    assert handled_when_routing_ran[0] <= CONSUME_SLICE


def test_the_router_hands_each_event_to_its_subscribers_in_order():
    router = EventRouter()
    seen: list[tuple[str, str]] = []
    router.subscribe({"Hangup": lambda ev: seen.append(("a", ev["Event"]))})
    router.subscribe({EVERY: lambda ev: seen.append(("every", ev["Event"]))})
    router.subscribe({"Hangup": lambda ev: seen.append(("b", ev["Event"]))})
    router.dispatch({"Event": "Hangup"})
    router.dispatch({"Event": "Newchannel"})
    assert seen == [("a", "Hangup"), ("b", "Hangup"), ("every", "Hangup"),
                    ("every", "Newchannel")]  # fmt: skip
    assert router.names == {"Hangup"}


def test_every_event_the_engine_follows_passes_asterisks_filter(tmp_path):
    """What the parts subscribe to is what the rendered manager.conf lets through."""
    engine = Engine(Instance(tmp_path / "home", DEFAULT_PATH))
    assert engine.router.names <= set(AMI_EVENTS)


async def test_report_rollups_are_kept_hourly_in_a_thread(tmp_path, monkeypatch):
    """The engine's upkeep of the reports' kept days runs off the loop, and a failure
    (the store away) leaves it running for the next hour."""
    runs: list[int] = []
    done = asyncio.Event()
    loop = asyncio.get_running_loop()

    def keep(self, first=None, last=None):
        runs.append(threading.get_ident())
        if len(runs) == 1:
            raise OSError("store away")
        loop.call_soon_threadsafe(done.set)
        return []

    monkeypatch.setattr(wiring, "ROLLUP_SECONDS", 0.01)
    monkeypatch.setattr(ReportService, "keep_rollups", keep)
    engine = Engine(Instance(tmp_path / "home", DEFAULT_PATH))
    task = asyncio.create_task(engine._keep_rollups())
    await asyncio.wait_for(done.wait(), 10)
    task.cancel()
    assert len(runs) >= 2 and threading.get_ident() not in runs
