"""Every "try it" action runs for real against a real lab and returns real figures."""
from __future__ import annotations

import uuid

import pytest
from dnslib import DNSRecord

from netlearn.lab.actions import ActionError, run_action
from netlearn.lab.events import Kind
from netlearn.lab.runner import Lab


async def test_dns_query_at_the_root_gets_a_referral(lab: Lab) -> None:
    record = await lab.run_action({"kind": "dns_query", "name": "shop.netlearn.test", "server": "root"})
    assert record.error == ""
    assert record.result["rcode"] == "NOERROR" and record.result["addresses"] == []
    answer = next(e for e in record.events if e.component == "client" and e.kind == Kind.ANSWER)
    parsed = DNSRecord.parse(answer.data)
    assert parsed.header.rd == 0
    assert any(str(rr.rname) == "test." for rr in parsed.auth)  # the referral names the TLD's servers


async def test_dns_query_through_the_resolver_answers_with_the_ttl(lab: Lab) -> None:
    record = await lab.run_action({"kind": "dns_query", "name": "flash.netlearn.test", "server": "resolver"})
    assert record.result["addresses"] == ["127.0.2.1"]
    assert record.result["ttl"] == 5


@pytest.mark.parametrize("algorithm", ["round_robin", "weighted_round_robin", "least_connections",
                                       "source_ip_hash", "peak_ewma"])
async def test_lb_distribution_sends_every_request_through_a_private_balancer(lab: Lab, algorithm: str) -> None:
    record = await lab.run_action({"kind": "lb_distribution", "balancer": "l4", "algorithm": algorithm,
                                   "requests": 16})
    counts = record.result["counts"]
    assert sum(counts.values()) == 16 and all(name.startswith("backend-") for name in counts)
    if algorithm == "round_robin":
        assert set(counts.values()) == {4}
    if algorithm == "weighted_round_robin":
        assert counts["backend-1"] == 2 * counts["backend-2"] == 4 * counts["backend-3"]
    assert any(e.kind == Kind.CHOOSE for e in record.events)
    # The shared lab's balancer was not touched.
    assert lab.web.l4.describe()["algorithm"] == "round_robin"


async def test_backend_fault_is_detected_by_health_checks(lab: Lab) -> None:
    record = await lab.run_action({"kind": "backend_fault", "backend": 2, "fault": "stop"})
    result = record.result
    assert result["marked_down_after_ms"] is not None
    after_down = [t for t in result["timeline"][-10:]]
    assert all(t["status"] == 200 and t["backend"] != "backend-2" for t in after_down)
    assert any(e.kind == Kind.HEALTH_CHECK for e in record.events)
    # The shared lab's backend 2 still runs.
    assert lab.web.backend(2).running


async def test_unknown_actions_and_values_are_refused(lab: Lab) -> None:
    with pytest.raises(ActionError):
        await run_action(lab, {"kind": "shell", "cmd": "rm -rf /"}, uuid.uuid4().hex)
    record = await lab.run_action({"kind": "dns_query", "name": "example.com"})
    assert "lab zone" in record.error
    record = await lab.run_action({"kind": "lb_distribution", "algorithm": "random_guess"})
    assert "unknown algorithm" in record.error
