"""The worker's garbage collector, settled once start-up is over: why a cached step page had a long tail.

A worker holds ~110,000 long-lived container objects from start-up (Django, the URL conf, templates,
the lesson content, the lab's topology) and makes cyclic garbage on every request (Django's request
with its lazy user, the lab's events and HTTP pipelines). With CPython's default thresholds
(700, 10, 10) the youngest collections hand everything that survives a few hundred allocations on to
the oldest generation, and a full (generation 2) collection traverses the whole heap, start-up
included, while holding the GIL: the site's event loop, which answers a returning learner's step page,
stops for as long as it runs, whichever thread triggered it.

Measured under ``bench/classroom.py --json --learners 1000 --duration 60 --config embedded``
(a ``gc.callbacks`` probe timing each collection's thread CPU, and a 1 ms loop-lag probe): **20
full collections a run, one every ~3 s, each 140-240 ms of CPU** (2.9 s a run, ~5 % of the worker's
core), each one a stall of the loop, the step page's p99 225 ms against a p50 of 9 ms. Frozen start-up
heap and a tenfold oldest threshold: 4 full collections a run, 0.28 s in all (the young ones unchanged:
medians 0.4 and 4 ms, at most 12-14 ms); README's classroom row has the alternating runs, and what
still makes the tail once the collector is out of it (the GIL hand-off between the loop and the
worker's other threads).

Raising the *youngest* threshold instead (50,000) was measured too and is worse for the tail: each
young collection then frees ~35,000 cyclic objects at once, 70-100 ms a time.
"""
from __future__ import annotations

import gc
import logging

log = logging.getLogger("netlearn.heap")

# A full collection after 10 x 10 young ones (700 x 10 x 10 net allocations) is CPython's default;
# 100 makes it ten times rarer. The 25 % rule (a full collection only once the objects promoted since
# the last exceed a quarter of the long-lived ones) still applies on top.
OLDEST_THRESHOLD = 100


class SettledHeap:
    """A background service (``netlearn.core.lifespan``) started last: collect what start-up left over,
    freeze the rest out of every later collection (``gc.freeze``), and make full collections rarer.

    Nothing to undo at shutdown: the process ends.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    async def start(self) -> None:
        if not self.enabled:
            return
        settle_heap()

    async def stop(self) -> None:
        """Nothing to release."""


def settle_heap() -> None:
    """Collect, freeze what survives, raise the oldest threshold; logs how much was frozen."""
    gc.collect()
    gc.freeze()
    young, middle, _oldest = gc.get_threshold()
    gc.set_threshold(young, middle, OLDEST_THRESHOLD)
    log.info("start-up heap frozen: %d objects, thresholds %s", gc.get_freeze_count(), gc.get_threshold())
