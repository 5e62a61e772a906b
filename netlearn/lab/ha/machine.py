"""The VRRP state machine (RFC 5798 §6.4), sans-I/O: inputs and ``now`` in, actions out.

Theory of operation
-------------------
A BACKUP keeps a Master_Down timer (``missed × interval + skew``, the skew smaller for higher
priorities so the best backup wins a race). Every advertisement from the master resets it; when
it fires, no master has been heard for that long, and the backup becomes MASTER: it *takes over*
the virtual address and starts advertising. A MASTER advertises every ``interval`` and steps down
(*releases* the address) when it hears a higher priority. Preemption is the backup's choice: with
``preempt`` a higher-priority backup ignores a lower master's adverts, so its timer fires and it
takes the address back; without it, it stays backup while any master is alive. Priority 0 is a
master resigning: backups take over after only the skew.

Transitions, as a table (state, input) → (new state, actions):

    BACKUP, advert(prio 0)                  → BACKUP, timer = skew
    BACKUP, advert(prio ≥ ours or !preempt) → BACKUP, timer = master_down
    BACKUP, advert(lower, preempt)          → BACKUP (ignored: let the timer fire)
    BACKUP, timer fired                     → MASTER, [TAKEOVER, SEND]
    MASTER, advert(higher)                  → BACKUP, [RELEASE], timer = master_down
    MASTER, advert tick                     → MASTER, [SEND]
    MASTER, shutdown                        → INIT,   [SEND_RESIGN, RELEASE]
"""
from __future__ import annotations

from enum import Enum


class State(str, Enum):
    INIT = "init"
    BACKUP = "backup"
    MASTER = "master"


class Action(str, Enum):
    SEND = "send"
    SEND_RESIGN = "send_resign"
    TAKEOVER = "takeover"
    RELEASE = "release"


class VrrpMachine:
    def __init__(self, *, priority: int, interval: float, missed: int = 3, preempt: bool = True) -> None:
        if not 1 <= priority <= 254:
            raise ValueError("a lab node's priority is 1-254")
        self.priority = priority
        self.interval = interval
        self.missed = missed
        self.preempt = preempt
        self.state = State.INIT
        self.down_at: float | None = None
        #: When a master's advertisement last re-armed the Master_Down timer: the quiet a takeover
        #: follows is measured from here (the demo reports it; its test holds it to the interval).
        self.heard_at: float | None = None
        self.next_advert_at: float | None = None
        self.master_priority: int | None = None

    @property
    def skew(self) -> float:
        return (256 - self.priority) / 256 * self.interval

    @property
    def master_down_interval(self) -> float:
        return self.missed * self.interval + self.skew

    def start(self, now: float, *, as_master: bool = False) -> list[Action]:
        if as_master:
            return self._become_master(now)
        self.state = State.BACKUP
        self.down_at = now + self.master_down_interval
        return []

    def on_advert(self, priority: int, now: float) -> list[Action]:
        if self.state == State.BACKUP:
            if priority == 0:
                self.down_at = now + self.skew
            elif not self.preempt or priority >= self.priority:
                self.master_priority = priority
                self.heard_at = now
                self.down_at = now + self.master_down_interval
            return []
        if self.state == State.MASTER and priority > self.priority:
            self.state = State.BACKUP
            self.master_priority = priority
            self.next_advert_at = None
            self.down_at = now + self.master_down_interval
            return [Action.RELEASE]
        return []

    def on_timer(self, now: float) -> list[Action]:
        if self.state == State.BACKUP and self.down_at is not None and now >= self.down_at:
            return self._become_master(now)
        if self.state == State.MASTER and self.next_advert_at is not None and now >= self.next_advert_at:
            self.next_advert_at = now + self.interval
            return [Action.SEND]
        return []

    def shutdown(self) -> list[Action]:
        was_master = self.state == State.MASTER
        self.state = State.INIT
        self.down_at = self.next_advert_at = None
        return [Action.SEND_RESIGN, Action.RELEASE] if was_master else []

    def next_deadline(self) -> float | None:
        return self.down_at if self.state == State.BACKUP else self.next_advert_at

    def _become_master(self, now: float) -> list[Action]:
        self.state = State.MASTER
        self.down_at = None
        self.master_priority = self.priority
        self.next_advert_at = now + self.interval
        return [Action.TAKEOVER, Action.SEND]
