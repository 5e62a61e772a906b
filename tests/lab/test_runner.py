"""The lab as a whole: start on its own thread, report, stop cleanly."""
from __future__ import annotations

import socket
import threading

from netlearn.lab.runner import LabThread
from netlearn.lab.topology import LabConfig


def test_lab_thread_starts_reports_and_stops_without_leaks() -> None:
    threads_before = {t.name for t in threading.enumerate()}
    lab = LabThread(LabConfig.ephemeral()).start()
    endpoints = lab.call(lambda lab: lab.endpoints())
    described = lab.describe()
    assert described["state"] == "running"
    assert {"root", "tld", "authoritative", "resolver", "l4", "l7"} <= set(described["components"])
    record = lab.submit(lambda lab: lab.walk("http://shop.netlearn.test/")).result(30)
    assert record.outcome.status == "done"
    lab.stop()
    assert not lab.is_alive()
    assert {t.name for t in threading.enumerate()} <= threads_before | {"asyncio_0"}
    # Every listening port was really released: each can be bound again at once.
    for role in ("l4", "l7", "resolver"):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((endpoints[role]["host"], endpoints[role]["port"]))
    for backend in endpoints["backends"]:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((backend["host"], backend["port"]))


def test_a_stopped_lab_reports_stopped_and_refuses_work() -> None:
    lab = LabThread(LabConfig.ephemeral()).start()
    lab.stop()
    assert lab.describe()["state"] == "stopped"
    try:
        lab.submit(lambda lab: lab.walk("http://shop.netlearn.test/"))
    except RuntimeError as exc:
        assert "not running" in str(exc)
    else:
        raise AssertionError("a stopped lab accepted work")


def test_the_default_lab_listens_where_the_readmes_lab_table_says() -> None:
    """README "The lab": each role's address and default port, as `make run` and `runlab` use them."""
    import re
    from pathlib import Path

    from netlearn.lab.topology import LabConfig

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## The lab"):readme.index("Ports below 1024")]

    def said(role: str) -> str:
        row = re.search(rf"^\| {re.escape(role)}[^|]* \| ([0-9.:–-]+)", table, re.MULTILINE)
        assert row, f"no row for {role} in the README's lab table"
        return row.group(1)

    config = LabConfig()
    for role, endpoint in (("root", config.root), ("TLD", config.tld), ("authoritative", config.authoritative),
                           ("resolver", config.resolver), ("l4", config.l4), ("l7", config.l7)):
        assert said(role) == f"{endpoint.host}:{endpoint.port}", role
    assert said("backend-1..4") == "127.0.3.1–4:18001–4"
    assert [f"{b.host}:{b.port}" for b in config.backends] == [f"127.0.3.{n}:1800{n}" for n in range(1, 5)]
    assert said("client") == config.client_host
