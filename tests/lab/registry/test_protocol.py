"""Registry messages and leases, sans-I/O: bytes in, messages or clear errors out."""
from __future__ import annotations

import json
import random

import pytest

from netlearn.lab.registry import Candidate, Chooser, InstanceStats, LeaseTable, RegistryError, parse_message
from netlearn.lab.registry.protocol import Cancel, Register, Renew


def _msg(**doc) -> bytes:
    return json.dumps(doc).encode()


def test_a_register_message_parses() -> None:
    message = parse_message(_msg(op="register", service="shop", instance_id="i1", host="127.0.4.11", port=18511,
                                 zone="zone-a"))
    assert message == Register("shop", "i1", "127.0.4.11", 18511, "zone-a")


@pytest.mark.parametrize("body, code", [
    (b"{not json", "malformed_json"),
    (b"[1, 2]", "not_an_object"),
    (_msg(op="explode", service="shop"), "unknown_op"),
    (_msg(op="renew", service="shop", instance_id="i1", extra=1), "unknown_field"),
    (_msg(op="renew", service="Shop!", instance_id="i1"), "bad_service"),
    (_msg(op="renew", service="shop", instance_id=""), "bad_instance_id"),
    (_msg(op="register", service="shop", instance_id="i1", host="10.0.0.1", port=80), "bad_address"),
    (_msg(op="register", service="shop", instance_id="i1", host="127.0.4.11", port=0), "bad_port"),
    (_msg(op="register", service="shop", instance_id="i1", host="127.0.4.11", port=True), "bad_port"),
    (_msg(op="register", service="shop", instance_id="i1", host="127.0.4.11", port=1, zone="Z Z"), "bad_zone"),
    (b"x" * 5000, "payload_too_large"),
])
def test_malformed_messages_are_rejected_with_a_code(body: bytes, code: str) -> None:
    with pytest.raises(RegistryError) as info:
        parse_message(body)
    assert info.value.code == code


def test_leases_renew_expire_and_bump_the_version() -> None:
    table = LeaseTable(lease_duration=0.75)
    table.register(Register("shop", "i1", "127.0.4.11", 1), now=0.0)
    table.register(Register("shop", "i2", "127.0.4.12", 2), now=0.0)
    table.renew(Renew("shop", "i1"), now=0.5)
    assert [lease.registration.instance_id for lease in table.expired(now=0.8)] == ["i2"]
    assert table.snapshot("shop", now=0.8)["version"] == 3
    assert table.expired(now=1.0) == []
    assert [i["instance_id"] for i in table.snapshot("shop", now=1.0)["instances"]] == ["i1"]


def test_a_heartbeat_for_an_unknown_instance_is_a_404() -> None:
    table = LeaseTable(lease_duration=1)
    with pytest.raises(RegistryError) as info:
        table.renew(Renew("shop", "ghost"), now=0)
    assert (info.value.code, info.value.status) == ("unknown_instance", 404)
    with pytest.raises(RegistryError):
        table.cancel(Cancel("shop", "ghost"))


def test_the_table_is_bounded() -> None:
    table = LeaseTable(lease_duration=1, max_instances=2)
    for i in range(2):
        table.register(Register("shop", f"i{i}", "127.0.0.1", 1), now=0)
    with pytest.raises(RegistryError) as info:
        table.register(Register("shop", "i9", "127.0.0.1", 1), now=0)
    assert info.value.status == 503


CANDIDATES = [Candidate("a1", "127.0.4.11", 1, "zone-a"), Candidate("b1", "127.0.4.12", 2, "zone-b"),
              Candidate("a2", "127.0.4.13", 3, "zone-a")]


def test_round_robin_takes_turns_and_skips_the_excluded() -> None:
    chooser = Chooser("round_robin")
    assert [chooser.choose(CANDIDATES, {}).instance_id for _ in range(3)] == ["a1", "b1", "a2"]
    assert chooser.choose(CANDIDATES, {}, frozenset({"a1", "b1"})).instance_id == "a2"
    assert chooser.choose(CANDIDATES, {}, frozenset({"a1", "b1", "a2"})) is None


def test_zone_preference_stays_home_and_falls_back() -> None:
    chooser = Chooser("zone_preference", zone="zone-a")
    assert {chooser.choose(CANDIDATES, {}).zone for _ in range(6)} == {"zone-a"}
    assert chooser.choose(CANDIDATES, {}, frozenset({"a1", "a2"})).instance_id == "b1"


def test_weighted_response_time_favours_the_fast_one() -> None:
    chooser = Chooser("weighted_response_time", rng=random.Random(7))
    stats = {"a1": InstanceStats(avg_ms=1.0), "b1": InstanceStats(avg_ms=20.0), "a2": InstanceStats(avg_ms=20.0)}
    picks = [chooser.choose(CANDIDATES, stats).instance_id for _ in range(400)]
    assert picks.count("a1") > picks.count("b1") and picks.count("b1") > 0
