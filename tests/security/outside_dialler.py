"""A child process that deliberately dials outside the machine, once per kind of socket.

Run only inside an empty network namespace of its own (``unshare -n``): there is no route
anywhere (even loopback is down), so every attempt fails with ENETUNREACH before a packet exists,
yet the system call is made and ``strace`` sees it. ``test_syscall_watch.py`` drives it through
standard input, one command a line:

``mark PORT``  make the watch's marker (see ``tests/syscall_watch.py``), answer ``ok``
``dial``       the four deliberate outside dials below (each on its own thread, as the lab runs
               on a thread of its own), answer ``ok`` and a JSON object: what each attempt raised
"""
from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import uvloop

from tests.syscall_watch import mark

#: One documentation address (RFC 5737, never routed) per kind of socket, so each is told apart.
TARGETS = {
    "uvloop_open_connection": "192.0.2.10",
    "uvloop_datagram_remote_addr": "192.0.2.20",
    "uvloop_sendto": "198.51.100.30",
    "plain_socket_connect": "203.0.113.40",
}


async def _open_connection() -> None:
    await asyncio.open_connection(TARGETS["uvloop_open_connection"], 80)


async def _datagram_remote_addr() -> None:
    await asyncio.get_running_loop().create_datagram_endpoint(
        asyncio.DatagramProtocol, remote_addr=(TARGETS["uvloop_datagram_remote_addr"], 53))


async def _sendto() -> None:
    loop = asyncio.get_running_loop()
    errors: list[Exception] = []

    class Protocol(asyncio.DatagramProtocol):
        def error_received(self, exc: Exception) -> None:
            errors.append(exc)

    transport, _ = await loop.create_datagram_endpoint(Protocol, family=socket.AF_INET)
    try:
        transport.sendto(b"\x00" * 12, (TARGETS["uvloop_sendto"], 53))
        await asyncio.sleep(0)  # let uvloop flush the datagram (or report its error)
        if errors:
            raise errors[0]
    finally:
        transport.close()


def _plain_connect() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.connect((TARGETS["plain_socket_connect"], 80))


def _attempt(name: str, action, results: dict[str, str]) -> None:
    assert isinstance(asyncio.get_event_loop_policy(), uvloop.EventLoopPolicy)
    try:
        if asyncio.iscoroutinefunction(action):
            asyncio.run(action())
        else:
            action()
        results[name] = "no error"
    except Exception as exc:  # noqa: BLE001 - whatever the kernel said is reported to the test
        results[name] = type(exc).__name__ + ": " + str(exc)


def dial() -> dict[str, str]:
    results: dict[str, str] = {}
    actions = {"uvloop_open_connection": _open_connection, "uvloop_datagram_remote_addr": _datagram_remote_addr,
               "uvloop_sendto": _sendto, "plain_socket_connect": _plain_connect}
    for name, action in actions.items():
        thread = threading.Thread(target=_attempt, args=(name, action, results))
        thread.start()
        thread.join()
    return results


def main() -> None:
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    for line in sys.stdin:
        command, *args = line.split()
        if command == "mark":
            mark(int(args[0]))
            print("ok", flush=True)
        elif command == "dial":
            print("ok", json.dumps(dial()), flush=True)


if __name__ == "__main__":
    main()
