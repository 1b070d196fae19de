"""The bot's long-lived objects are kept out of the garbage collector's full passes."""

from __future__ import annotations

import asyncio
import gc
import sys

from bot import gc_tuning


async def full_collection() -> None:
    gc.collect()
    for _turn in range(3):  # the freeze is scheduled on the loop once the collector is done
        await asyncio.sleep(0)


async def test_what_lives_at_the_start_and_through_the_first_full_collections_is_frozen() -> None:
    callbacks = list(gc.callbacks)
    try:
        gc_tuning.freeze_long_lived(asyncio.get_running_loop())
        at_start = gc.get_freeze_count()
        assert at_start > 0
        caches = [[number] for number in range(1000)]  # filled by the first updates, kept for good
        await full_collection()
        assert gc.get_freeze_count() >= at_start + len(caches)
        await full_collection()
        # Done after FREEZE_AFTER_FULL_COLLECTIONS: what the bot makes later is collected as usual.
        assert gc.callbacks == callbacks
        frozen = gc.get_freeze_count()
        later = [[number] for number in range(1000)]
        await full_collection()
        assert gc.get_freeze_count() == frozen and len(later) == 1000
    finally:
        gc.unfreeze()
        gc.callbacks[:] = callbacks


def test_a_full_collection_after_the_loop_closed_is_quiet(monkeypatch) -> None:
    callbacks, raised = list(gc.callbacks), []
    monkeypatch.setattr(sys, "unraisablehook", raised.append)  # where a callback's error would go
    loop = asyncio.new_event_loop()
    try:
        gc_tuning.freeze_long_lived(loop)
        loop.close()  # the process is ending: collections still happen
        gc.collect()
        gc.collect()
    finally:
        gc.unfreeze()
        gc.callbacks[:] = callbacks
    assert raised == []
