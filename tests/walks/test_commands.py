"""manage.py walk and runlab, run as real processes."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "DJANGO_SETTINGS_MODULE": "netlearn.settings.test"}


def test_walk_command_prints_a_real_walk_as_json() -> None:
    out = subprocess.run([sys.executable, "manage.py", "walk", "http://shop.netlearn.test/", "--json"], cwd=ROOT,
                         env=ENV, capture_output=True, text=True, timeout=60, check=True).stdout
    document = json.loads(out)
    assert document["status"] == "done"
    kinds = [s["kind"] for s in document["steps"]]
    assert "query" in kinds and "connect" in kinds and "response" in kinds
    query = next(s for s in document["steps"] if s["kind"] == "query")
    assert bytes.fromhex(query["bytes_hex"])[12:].find(b"\x04shop\x08netlearn\x04test\x00") == 0
    assert all({"layer", "kind", "title", "src", "dst", "bytes_hex", "timestamps"} <= set(s) for s in document["steps"])


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_runlab_prints_endpoints_takes_commands_and_stops_on_a_signal(stop: signal.Signals) -> None:
    """README: runlab prints one JSON line with every role and serves until SIGINT/SIGTERM; its
    standard input takes one command per line (``help`` lists them) and answers with a JSON line."""
    proc = subprocess.Popen([sys.executable, "manage.py", "runlab", "--ephemeral", "--availability"], cwd=ROOT,
                            env=ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        endpoints = json.loads(line)
        assert {"root", "tld", "authoritative", "resolver", "l4", "l7", "backends"} <= set(endpoints)
        assert len(endpoints["backends"]) == 4
        assert all(e["host"].startswith("127.") for e in [*endpoints["backends"], endpoints["l4"]])
        assert endpoints["registry"]["host"] == "127.0.4.1"
        for line, check in (("algorithm l4 least_connections", lambda r: r["ok"] is True),
                            ("kill-active", lambda r: r["ok"] is True),
                            ("latency 9 1", lambda r: r["ok"] is False and "backend" in r["error"]),
                            ("describe", lambda r: r["components"]["l4"]["algorithm"] == "least_connections"),
                            ("help", lambda r: all(c in r["help"] for c in ("stop-backend", "flush-dns", "describe")))):
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
            assert check(json.loads(proc.stdout.readline())), line
        proc.send_signal(stop)
        assert proc.wait(timeout=15) == 0, proc.stderr.read()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()


def test_walk_command_writes_a_pcapng_that_tshark_reads(tmp_path) -> None:
    """Issue 13's "done when": a cold walk's file shows the referrals, both handshakes, HTTP and FINs."""
    import shutil

    pcap = tmp_path / "walk.pcapng"
    out = subprocess.run([sys.executable, "manage.py", "walk", "http://shop.netlearn.test/", "--cold", "--pcap",
                          str(pcap), "--json"], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=60,
                         check=True).stdout
    document = json.loads(out)
    assert document["capture"]["cache"] == "cold" and document["frames"]
    assert pcap.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"  # a pcapng section header block
    if document["capture"]["mode"] != "captured":
        return
    connect = next(s for s in document["steps"] if s["kind"] == "connect" and s["component"] == "client")
    handshake = [f["info"] for f in document["frames"] if f["no"] in connect["frames"]]
    assert "[SYN] Seq=0" in handshake[0] and "[SYN, ACK] Seq=0 Ack=1" in handshake[1]
    if shutil.which("tshark") is None:
        return
    # The lab's DNS servers listen on ports the kernel chose, and their clients' ports are ephemeral:
    # tell tshark both ends are DNS (undecoded, a port that happens to be another protocol's, e.g.
    # Elasticsearch's 54328, was dissected as that: a fresh-clone run, 2026-12-05). The servers'
    # ports alone would not do: tshark tries the lower port of a datagram first.
    dns_ports = sorted({port for f in document["frames"]
                        if f["transport"] == "udp" and f["dst_node"] in ("root", "tld", "authoritative", "resolver")
                        for port in (f["src"][1], f["dst"][1])})
    decode = [arg for port in dns_ports for arg in ("-d", f"udp.port=={port},dns")]
    listing = subprocess.run(["tshark", "-n", "-r", str(pcap), *decode], capture_output=True, text=True,
                             timeout=60, check=True).stdout
    assert listing.count("Standard query response") >= 4  # root, TLD, authoritative, then the resolver's answer
    assert "NS ns1.nic.test" in listing and "NS ns1.netlearn.test" in listing
    assert listing.count("[SYN]") == 2 and listing.count("[SYN, ACK]") == 2
    assert "GET / HTTP/1.1" in listing and "HTTP/1.1 200 OK" in listing
    assert listing.count("[FIN, ACK]") == 4


def test_walk_command_warm_shows_the_cache_hit() -> None:
    out = subprocess.run([sys.executable, "manage.py", "walk", "http://nope.netlearn.test/", "--warm", "--json"],
                         cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=60, check=True).stdout
    document = json.loads(out)
    assert document["capture"]["cache"] == "warm"
    assert any(s["kind"] == "cache" for s in document["steps"])
    assert not any(s["kind"] == "referral" for s in document["steps"])


def test_walk_without_cap_net_raw_rebuilds_and_says_why() -> None:
    """The real privilege check: the same walk in a process whose capabilities lack CAP_NET_RAW."""
    import shutil

    command = [sys.executable, "manage.py", "walk", "http://shop.netlearn.test/", "--json"]
    if shutil.which("setpriv") and os.geteuid() == 0:
        command = ["setpriv", "--inh-caps=-net_raw", "--bounding-set=-net_raw", *command]
    out = subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=60, check=True).stdout
    document = json.loads(out)
    if document["capture"]["mode"] == "captured":  # no way to drop the privilege here
        return
    assert document["status"] == "done" and document["capture"]["reason"] == "capture needs CAP_NET_RAW"
    assert document["frames"] and not any(f["captured"] for f in document["frames"])
    connect = next(s for s in document["steps"] if s["kind"] == "connect" and s["component"] == "client")
    handshake = [f["info"] for f in document["frames"] if f["no"] in connect["frames"]]
    assert "[SYN]" in handshake[0] and "[SYN, ACK]" in handshake[1] and "[PSH" not in handshake[0]
