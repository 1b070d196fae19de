"""Garbage collection that does not stall the bot for tens of milliseconds.

Python's full collection (generation 2) walks every object the collector tracks. In a running
Jianfu that is its imports, settings, catalogs, compiled statements and caches: about 150,000
objects, 80 ms on a small machine, during which no update is handled. In the loopback latency
benchmark these pauses were the slowest acks. The objects that survive the start and the first
full collections after it are the process's long-lived state, so they are moved out of the
collector's sight (`gc.freeze`): later full collections walk only what the bot made since.
Frozen objects are still freed when nothing refers to them; only garbage cycles among them would
stay, and the long-lived state does not turn into garbage.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

# Full collections after the start whose survivors are frozen too: the first requests load
# more modules and fill caches (statements, verdicts), which then live as long as the process.
FREEZE_AFTER_FULL_COLLECTIONS = 2


def freeze_long_lived(loop: asyncio.AbstractEventLoop) -> None:
    """Freeze what exists now, then what survives the next few full collections."""
    gc.collect()
    gc.freeze()
    left = [FREEZE_AFTER_FULL_COLLECTIONS]

    def after_collection(phase: str, info: dict[str, Any]) -> None:
        if phase != "stop" or info["generation"] != 2 or left[0] <= 0:
            return
        left[0] -= 1
        try:
            # Not from inside the collector's callback: once it has finished.
            loop.call_soon_threadsafe(gc.freeze)
            if left[0] == 0:
                loop.call_soon_threadsafe(gc.callbacks.remove, after_collection)
        except RuntimeError:  # the loop is closed: the process is ending, nothing to keep
            left[0] = 0

    gc.callbacks.append(after_collection)
