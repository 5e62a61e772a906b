"""Real walks through a real lab on loopback: no mocks, every byte really sent."""
from __future__ import annotations

import uuid

from dnslib import DNSRecord

from netlearn.lab.events import Kind
from netlearn.lab.runner import Lab


def _kinds(record, component: str | None = None) -> list[str]:
    return [e.kind.value for e in record.events if component is None or e.component == component]


async def test_walk_goes_through_dns_hierarchy_balancer_and_backend(lab: Lab) -> None:
    record = await lab.walk("http://shop.netlearn.test/", correlation_id=uuid.uuid4().hex)
    assert record.outcome.status == "done", record.outcome
    components = {e.component for e in record.events}
    assert {"client", "resolver", "root", "tld", "authoritative", "l4"} <= components
    assert any(c.startswith("backend-") for c in components)
    # Every event carries the walk's id. Their order is checked against the wire, not against a
    # sort the record itself applies: the stored order puts each DNS question before the frame
    # that carried it crossed, and that frame before the answer it caused (kernel timestamps).
    assert all(e.correlation_id == record.correlation_id for e in record.events)
    if record.capture["mode"] == "captured":
        events = record.event_dicts()
        frames = {f["no"]: f for f in record.frames}
        senders = [e for e in events if e["kind"] == "query" and e["frames"]]
        assert len(senders) == 4  # stub → resolver, resolver → root, TLD, authoritative
        for query in senders:
            sent = frames[query["frames"][0]]
            answer = next(f for f in record.frames if f["src"] == sent["dst"] and f["dst"] == sent["src"])
            assert query["ts"] <= sent["ts"] < answer["ts"]
            assert sent["ts_ns"] < answer["ts_ns"] and sent["no"] < answer["no"]
    # The resolver really asked root, then TLD, then the authoritative server.
    asked = [e.detail.get("server_role") for e in record.events
             if e.component == "resolver" and e.kind == Kind.QUERY and e.detail.get("server_role") != "resolver"]
    assert asked[:3] == ["root", "tld", "authoritative"]


async def test_walk_steps_carry_the_real_addresses_ports_and_bytes(lab: Lab) -> None:
    record = await lab.walk("http://shop.netlearn.test/", correlation_id=uuid.uuid4().hex)
    endpoints = lab.endpoints()
    client_query = next(e for e in record.events if e.component == "client" and e.kind == Kind.QUERY)
    assert client_query.dst == (endpoints["resolver"]["host"], endpoints["resolver"]["port"])
    assert client_query.src.host == lab.config.client_host
    question = DNSRecord.parse(client_query.data)
    assert str(question.q.qname) == "shop.netlearn.test."
    connect = next(e for e in record.events if e.component == "client" and e.kind == Kind.CONNECT)
    assert connect.dst == (endpoints["l4"]["host"], endpoints["l4"]["port"])
    request = next(e for e in record.events if e.component == "client" and e.kind == Kind.REQUEST)
    assert request.data.startswith(b"GET / HTTP/1.1\r\n")
    assert b"host: shop.netlearn.test" in request.data.lower()
    response = next(e for e in record.events if e.component == "client" and e.kind == Kind.RESPONSE)
    assert response.data.startswith(b"HTTP/1.1 200")
    assert response.detail["backend"] in record.outcome.backends


async def test_page_subresources_reuse_the_kept_alive_connection(lab: Lab) -> None:
    record = await lab.walk("http://shop.netlearn.test/", correlation_id=uuid.uuid4().hex)
    requests = [e for e in record.events if e.component == "client" and e.kind == Kind.REQUEST]
    assert len(requests) >= 4  # the page and its stylesheet, script and image
    connects = [e for e in record.events if e.component == "client" and e.kind == Kind.CONNECT]
    assert len(connects) == 1
    assert all(r.detail["reused"] for r in requests[1:])


async def test_second_walk_is_answered_from_the_resolver_cache(lab: Lab) -> None:
    first = await lab.walk("http://shop.netlearn.test/", correlation_id=uuid.uuid4().hex)
    second = await lab.walk("http://shop.netlearn.test/", correlation_id=uuid.uuid4().hex)
    upstream = lambda r: [e for e in r.events if e.component == "resolver" and e.kind == Kind.QUERY  # noqa: E731
                          and e.detail.get("server_role") != "resolver"]
    assert len(upstream(first)) >= 3
    assert upstream(second) == []
    assert any(e.kind == Kind.CACHE for e in second.events)
    assert len(second.events) < len(first.events)


async def test_l7_routes_api_paths_to_the_api_pool(lab: Lab) -> None:
    record = await lab.walk("http://www.netlearn.test/api/hello", correlation_id=uuid.uuid4().hex)
    assert record.outcome.status == "done", record.outcome
    assert "l7" in {e.component for e in record.events}
    assert set(record.outcome.backends) <= {"backend-3", "backend-4"}


async def test_cname_chain_is_followed(lab: Lab) -> None:
    record = await lab.walk("http://alias.netlearn.test/", correlation_id=uuid.uuid4().hex)
    assert record.outcome.status == "done"
    resolved = next(e for e in record.events if e.kind == Kind.STEP and e.detail.get("step") == "resolved")
    assert resolved.detail["cname_chain"][-1] == "shop.netlearn.test"


async def test_nxdomain_ends_the_walk_without_a_connection(lab: Lab, connect_watch) -> None:
    record = await lab.walk("http://nope.netlearn.test/", correlation_id=uuid.uuid4().hex)
    assert (record.outcome.status, record.outcome.code) == ("failed", "nxdomain")
    assert not [e for e in record.events if e.kind == Kind.CONNECT and e.component == "client"]


async def test_lab_name_pointing_outside_is_never_dialled(lab: Lab, connect_watch) -> None:
    record = await lab.walk("http://outside.netlearn.test/", correlation_id=uuid.uuid4().hex)
    assert (record.outcome.status, record.outcome.code) == ("refused", "address_outside_lab")
    hosts = connect_watch.hosts()
    assert lab.endpoints()["resolver"]["host"] in hosts, hosts  # the walk asked DNS: the watch saw it
    assert all(host.startswith("127.") for host in hosts), hosts
    assert "93.184.216.34" not in hosts


async def test_refused_urls_open_no_socket_at_all(lab: Lab, connect_watch) -> None:
    for url in ("http://example.com/", "http://127.0.0.1/", "file:///etc/passwd", "http://0x7f.1/",
                "http://u:p@shop.netlearn.test/", "http://shop.netlearn.test:22/"):
        record = await lab.walk(url, correlation_id=uuid.uuid4().hex)
        assert record.outcome.status == "refused", url
        assert [e.kind for e in record.events] == [Kind.STEP], url  # the refusal, nothing else
    # The only connections while refusing are the balancers' own health checks to their backends.
    backends = {b["host"] for b in lab.endpoints()["backends"]}
    assert connect_watch.hosts() <= backends, connect_watch.hosts()


async def test_stopped_backend_is_avoided_after_health_checks(lab: Lab) -> None:
    await lab.web.stop_backend(1)
    assert await lab.web.l4.pool.wait_round(lambda p: not p.by_name["backend-1"].healthy, 20)
    backends = set()
    for _ in range(6):
        record = await lab.walk("http://shop.netlearn.test/", correlation_id=uuid.uuid4().hex)
        assert record.outcome.status == "done", record.outcome
        backends.update(record.outcome.backends)
    assert "backend-1" not in backends
