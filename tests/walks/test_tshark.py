"""Our walks checked by a dissector nobody here wrote: Debian's tshark reads each walk's pcapng
and must agree with what the walk page says (frames, DNS, TCP, HTTP, TLS, order in time).

The lab listens on kernel-chosen ports, so tshark is told which protocol runs where with one
``-d`` per port, as a person opening the file in Wireshark would use "Decode As".
"""
from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from netlearn.lab.capture.pcapng import pcapng_bytes
from netlearn.lab.runner import Lab
from netlearn.walks import packetview, presenters

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is installed by make test")

FIELDS = ("frame.number", "frame.time_epoch", "_ws.malformed", "_ws.expert.severity", "tcp.flags", "tcp.seq",
          "tcp.ack", "tcp.seq_raw", "dns.id", "dns.qry.name", "dns.a", "dns.flags.rcode", "http.request.method",
          "http.request.uri", "http.response.code", "tls.handshake.type", "http2.type", "http2.header.value")


def decode_as(lab: Lab) -> list[str]:
    eps = lab.endpoints()
    args: list[str] = []
    for role in ("root", "tld", "authoritative", "resolver"):
        args += ["-d", f"udp.port=={eps[role]['port']},dns", "-d", f"tcp.port=={eps[role]['port']},dns"]
    for ep in (eps["l4"], eps["l7"], *eps["backends"]):
        args += ["-d", f"tcp.port=={ep['port']},http"]
    for ep in (eps["l4_tls"], eps["tls_front"], *eps["backends_tls"]):
        args += ["-d", f"tcp.port=={ep['port']},tls"]
    for role in ("quic_l4", "quic_l7"):
        args += ["-d", f"udp.port=={eps[role]['port']},quic"]
    return args


def tshark(pcap: Path, lab: Lab, *extra: str) -> list[dict[str, str]]:
    command = ["tshark", "-n", "-r", str(pcap), *decode_as(lab), "-T", "fields", "-E", "separator=\t",
               "-E", "occurrence=a", "-E", "aggregator=,", *[a for f in FIELDS for a in ("-e", f)], *extra]
    out = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True).stdout
    return [dict(zip(FIELDS, line.split("\t"))) for line in out.splitlines()]


async def walk_to_pcap(lab: Lab, url: str, tmp_path: Path, **options):
    record = await lab.walk(url, correlation_id=uuid.uuid4().hex, cold=True, **options)
    if record.capture["mode"] != "captured":
        pytest.skip(f"no capture here: {record.capture['reason']}")
    events = record.event_dicts()
    pcap = tmp_path / "walk.pcapng"
    pcap.write_bytes(pcapng_bytes(record.frames, keylog=record.capture["keylog"]))
    return record, events, pcap


def check_agreement(record, rows: list[dict[str, str]]) -> None:
    """Every frame decodes cleanly, and tshark's dissection says what our packet list says."""
    frames = packetview.packet_rows(record)
    assert len(rows) == len(frames) > 0
    bad = [r for r in rows
           if r["_ws.malformed"] or any(s and int(s) >= 0x800000 for s in r["_ws.expert.severity"].split(","))]
    assert not bad, bad
    # The page's packet order is tshark's order in time (kernel timestamps, to the nanosecond).
    times = [r["frame.time_epoch"] for r in rows]
    assert [int(t.replace(".", "")) for t in times] == sorted(int(t.replace(".", "")) for t in times)
    assert [f["ts_ns"] for f in frames] == [int(t.replace(".", "")) for t in times]
    for frame, row in zip(frames, rows):
        info = frame["info"]
        if frame["protocol"] == "TCP" or (frame["transport"] == "tcp" and "[" in info):
            flags = int(row["tcp.flags"], 16)
            names = [n for bit, n in ((1, "FIN"), (2, "SYN"), (4, "RST"), (8, "PSH"), (16, "ACK")) if flags & bit]
            assert f"[{', '.join(names)}]" in info, (info, row)
            assert f"Seq={row['tcp.seq']}" in info, (info, row)
            if flags & 0x10:
                assert f"Ack={row['tcp.ack']}" in info, (info, row)
        if frame["protocol"] == "DNS":
            assert f"0x{int(row['dns.id'], 16):04x}" in info and row["dns.qry.name"] in info, (info, row)
            for address in filter(None, row["dns.a"].split(",")):
                assert address in info, (info, row)
        if frame["protocol"] == "HTTP" and row["http.request.method"]:
            assert info == f"{row['http.request.method']} {row['http.request.uri']} HTTP/1.1", (info, row)
        if frame["protocol"] == "HTTP" and row["http.response.code"]:
            assert info.startswith(f"HTTP/1.1 {row['http.response.code']} "), (info, row)
        if frame["protocol"] == "TLS":
            ours = {1 if "Client Hello" in info else None, 2 if "Server Hello" in info else None} - {None}
            theirs = {int(t) for t in row["tls.handshake.type"].split(",") if t}
            assert ours <= theirs, (info, row)


def steps_agree_with_frames(events: list[dict], record) -> None:
    """What the steps say is what the frames they own say."""
    frames = {f["no"]: f for f in record.frames}
    for event in events:
        owned = [frames[n] for n in event["frames"]]
        if event["kind"] == "connect" and owned:
            assert owned[0]["info"].split(" [")[1].startswith("SYN]")
        if event["kind"] == "query" and owned and event["component"] == "client":
            assert event["detail"]["qname"].rstrip(".") in owned[0]["info"]


@pytest.mark.parametrize("url", ["http://shop.netlearn.test/", "http://alias.netlearn.test/",
                                 "http://nope.netlearn.test/", "http://www.netlearn.test/api/hello"])
async def test_plain_walks_decode_as_the_page_says(lab: Lab, tmp_path: Path, url: str) -> None:
    record, events, pcap = await walk_to_pcap(lab, url, tmp_path)
    rows = tshark(pcap, lab)
    check_agreement(record, rows)
    steps_agree_with_frames(events, record)
    dns = [r for r in rows if r["dns.qry.name"]]
    # root, TLD and authoritative each answered the resolver (a cold walk), plus the stub's exchange.
    assert len(dns) >= 8  # a UDP retry under heavy load would only add frames
    if "nope" in url:
        assert dns[-1]["dns.flags.rcode"] == "3" and not any(r["tcp.flags"] for r in rows)
    else:
        syns = [r for r in rows if r["tcp.flags"] and int(r["tcp.flags"], 16) == 0x02]
        fins = [r for r in rows if r["tcp.flags"] and int(r["tcp.flags"], 16) & 0x01]
        assert len(syns) >= 2 and len(fins) == 2 * len(syns)  # both hops opened and closed
        requests = [r["http.request.uri"] for r in rows if r["http.request.method"]]
        page = [e["detail"]["target"] for e in events if e["component"] == "client" and e["kind"] == "request"]
        assert requests[::2] == page or sorted(set(requests)) == sorted(set(page))


async def test_stopped_backends_show_the_refusal_on_the_wire(lab: Lab, tmp_path: Path) -> None:
    await lab.web.stop_backend(1)
    await lab.web.stop_backend(2)
    record, events, pcap = await walk_to_pcap(lab, "http://www.netlearn.test/", tmp_path)
    rows = tshark(pcap, lab)
    check_agreement(record, rows)
    assert any(r["tcp.flags"] and int(r["tcp.flags"], 16) & 0x04 for r in rows) or any(
        r["http.response.code"].startswith("5") for r in rows)
    statuses = {r["http.response.code"] for r in rows if r["http.response.code"]}
    page = {str(e["detail"]["status"]) for e in events if e["component"] == "client" and e["kind"] == "response"}
    assert statuses >= page and page <= {"502", "503", "504"}


async def test_https_h2_decrypts_with_the_walks_key_log(lab: Lab, tmp_path: Path) -> None:
    record, events, pcap = await walk_to_pcap(lab, "https://shop.netlearn.test/", tmp_path)
    assert "CLIENT_HANDSHAKE_TRAFFIC_SECRET" in record.capture["keylog"]
    rows = tshark(pcap, lab)
    check_agreement(record, rows)
    client = f"{lab.config.client_host}"
    headers = tshark(pcap, lab, "-Y", f"http2.type == 1 && ip.src == {client}")
    paths = {v for r in headers for v in r["http2.header.value"].split(",") if v.startswith("/")}
    page = {e["detail"]["target"] for e in events if e["component"] == "client" and e["kind"] == "request"}
    assert paths and paths == page
    shown = [e for e in events if e["kind"] == "frame" and e["detail"].get("frame") == "HEADERS"]
    assert shown
    hello = next(r for r in rows if "1" in r["tls.handshake.type"].split(","))
    assert hello["frame.number"] == str(next(f["no"] for f in record.frames if f["info"].startswith("Client Hello")))


async def test_http3_decodes_cleanly(lab: Lab, tmp_path: Path) -> None:
    record, events, pcap = await walk_to_pcap(lab, "https://www.netlearn.test/", tmp_path, protocol="h3")
    assert record.outcome.status == "done"
    rows = tshark(pcap, lab)
    check_agreement(record, rows)
    quic = tshark(pcap, lab, "-Y", "quic")
    numbers = {r["frame.number"] for r in quic}
    assert quic and all(f["protocol"] == "QUIC" for f in record.frames if str(f["no"]) in numbers)
    assert presenters.build_steps(events, {})  # the page renders the same events
