"""Advertisements and the VRRP machine, sans-I/O."""
from __future__ import annotations

import pytest

from netlearn.lab.ha import Action, AdvertError, Advertisement, AdvertPolicy, State, VrrpMachine, parse

POLICY = AdvertPolicy(vrid=51, virtual_address="127.0.5.1", peers={"127.0.5.2": 200, "127.0.5.3": 100})


def test_round_trip_is_twelve_bytes() -> None:
    advert = Advertisement(vrid=51, priority=200, interval=0.1, address="127.0.5.1")
    packet = advert.serialize()
    assert len(packet) == 12 and packet[0] == 0x31
    assert parse(packet) == advert


@pytest.mark.parametrize("mutate, code", [
    (lambda p: p[:11], "bad_length"),
    (lambda p: bytes([0x21]) + p[1:], "bad_version"),
    (lambda p: p[:3] + b"\x02" + p[4:], "bad_count"),
    (lambda p: p[:2] + bytes([p[2] ^ 1]) + p[3:], "bad_checksum"),
])
def test_malformed_packets_are_rejected(mutate, code) -> None:
    packet = Advertisement(vrid=51, priority=200, interval=0.1, address="127.0.5.1").serialize()
    with pytest.raises(AdvertError) as info:
        parse(mutate(packet))
    assert info.value.code == code


@pytest.mark.parametrize("advert, sender, code", [
    (Advertisement(51, 200, 0.1, "127.0.5.1"), "127.0.0.66", "unknown_peer"),
    (Advertisement(52, 200, 0.1, "127.0.5.1"), "127.0.5.2", "wrong_vrid"),
    (Advertisement(51, 200, 0.1, "10.0.0.1"), "127.0.5.2", "forged_address"),
    (Advertisement(51, 254, 0.1, "127.0.5.1"), "127.0.5.3", "forged_priority"),
    (Advertisement(51, 255, 0.1, "127.0.5.1"), "127.0.5.2", "forged_priority"),
])
def test_forged_adverts_fail_the_policy(advert, sender, code) -> None:
    with pytest.raises(AdvertError) as info:
        POLICY.check(advert, sender)
    assert info.value.code == code


def test_the_policy_accepts_a_peer_and_a_resignation() -> None:
    POLICY.check(Advertisement(51, 200, 0.1, "127.0.5.1"), "127.0.5.2")
    POLICY.check(Advertisement(51, 0, 0.1, "127.0.5.1"), "127.0.5.2")


def test_backup_takes_over_when_the_master_down_timer_fires() -> None:
    machine = VrrpMachine(priority=100, interval=0.1, missed=3)
    machine.start(0.0)
    down = machine.master_down_interval
    assert down == pytest.approx(0.3 + 156 / 256 * 0.1)
    machine.on_advert(200, 0.2)  # resets the timer
    assert machine.on_timer(0.2 + down - 0.001) == []
    assert machine.on_timer(0.2 + down) == [Action.TAKEOVER, Action.SEND]
    assert machine.state == State.MASTER


def test_master_steps_down_for_a_higher_priority_and_a_resign_is_quick() -> None:
    machine = VrrpMachine(priority=100, interval=0.1)
    machine.start(0.0, as_master=True)
    assert machine.on_advert(50, 0.1) == []
    assert machine.on_advert(200, 0.2) == [Action.RELEASE] and machine.state == State.BACKUP
    machine.on_advert(0, 0.3)
    assert machine.on_timer(0.3 + machine.skew) == [Action.TAKEOVER, Action.SEND]


def test_preemption_is_the_higher_backups_choice() -> None:
    eager = VrrpMachine(priority=200, interval=0.1, preempt=True)
    eager.start(0.0)
    eager.on_advert(100, 0.1)  # a lower master: ignored, so the timer still fires
    assert eager.on_timer(eager.master_down_interval) == [Action.TAKEOVER, Action.SEND]
    polite = VrrpMachine(priority=200, interval=0.1, preempt=False)
    polite.start(0.0)
    polite.on_advert(100, 0.1)
    assert polite.on_timer(polite.master_down_interval) == []
    assert polite.state == State.BACKUP
