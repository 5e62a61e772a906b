"""Every network destination a process dials, seen at the system-call level with ``strace``.

An audit hook (``sys.audit``) only sees what CPython's ``socket`` module does; the lab runs on
uvloop, whose libuv sockets (``open_connection``, datagram endpoints with ``remote_addr``,
``sendto``) call the kernel directly and raise no audit event. ``strace`` attached to the process
(all of its threads, and every thread or child started later: ``-f``) sees every ``connect``,
``sendto``, ``sendmsg`` and ``sendmmsg`` whatever library made it, including the calls the kernel
refuses. ``tests/security/test_syscall_watch.py`` proves it catches each kind of socket.

Attaching takes a moment: the watch knows it is live when it has seen a *marker* (a UDP
``connect`` to 127.0.0.253, which sends nothing) that the watched process made after the watch
started, and it knows it has seen everything up to a point when it sees a marker made at that
point.
"""
from __future__ import annotations

import ipaddress
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

SYSCALLS = "connect,sendto,sendmsg,sendmmsg"
MARK_HOST = "127.0.0.253"  # nothing listens there; a UDP connect sends no packet
_INET = re.compile(r'sa_family=AF_INET, sin_port=htons\((\d+)\), sin_addr=inet_addr\("([^"]+)"\)')
_INET6 = re.compile(r'sa_family=AF_INET6, sin6_port=htons\((\d+)\).*?inet_pton\(AF_INET6, "([^"]+)"')
_FAMILY = re.compile(r"sa_family=(AF_\w+)")
#: Families that never leave the machine (local IPC, the kernel, "disconnect this UDP socket").
LOCAL_FAMILIES = {"AF_UNIX", "AF_NETLINK", "AF_UNSPEC"}
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"),
            ipaddress.ip_network("::ffff:127.0.0.0/104"))
DEADLINE = 30.0


def mark(port: int) -> None:
    """A marker the watch will see: a UDP connect (no packet is sent) to ``MARK_HOST:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect((MARK_HOST, port))
        except OSError:  # no loopback (an empty network namespace): the call was still made
            pass


def is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in LOOPBACK if network.version == address.version)


@dataclass
class SyscallWatch:
    """``strace -f -p PID`` for as long as the watch is open; read what it saw with ``hosts()``."""

    pid: int
    log: Path = field(default_factory=lambda: Path(tempfile.mkstemp(prefix="netlearn-strace-", suffix=".log")[1]))
    make_mark: Callable[[int], None] = mark  # how to make the watched process call ``mark(port)``
    #: Loopback servers the site itself uses (its PostgreSQL and Redis), left out of ``destinations``.
    site_services: frozenset[tuple[str, int]] = frozenset()
    process: subprocess.Popen[bytes] | None = None
    _marks: int = 0

    def start(self) -> SyscallWatch:
        """Attach, then wait (generous deadline) until a marker made by ``make_mark`` is seen."""
        strace = shutil.which("strace")
        if strace is None:
            raise RuntimeError("strace is not installed: run `make test` (scripts/ensure-tools.sh installs it)")
        self.process = subprocess.Popen(
            [strace, "-f", "-qq", "-s", "0", "-e", f"trace={SYSCALLS}", "-o", str(self.log), "-p", str(self.pid)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.sync()
        return self

    def sync(self) -> None:
        """Make markers until one is seen: every call the process made before it is in the log."""
        self._marks += 1
        port = 20000 + self._marks
        needle = f'inet_addr("{MARK_HOST}")'
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"strace exited: {self.process.stderr.read().decode(errors='replace')}")
            self.make_mark(port)
            if any(needle in line and f"htons({port})" in line for line in self._lines()):
                return
            time.sleep(0.02)
        raise RuntimeError(f"strace did not report the marker within {DEADLINE} s")

    def stop(self) -> None:
        """See everything up to now, then detach (the watched process goes on untouched)."""
        if self.process is None:
            return
        try:
            self.sync()
        finally:
            self.process.terminate()
            self.process.wait(timeout=DEADLINE)
            self.process = None

    def _lines(self) -> list[str]:
        try:
            return self.log.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return []

    @property
    def destinations(self) -> list[tuple[str, int]]:
        """Every IPv4/IPv6 (host, port) dialled or sent to so far, in order, markers left out."""
        if self.process is not None:
            self.sync()
        found: list[tuple[str, int]] = []
        for line in self._lines():
            for pattern in (_INET, _INET6):
                found += [(host, int(port)) for port, host in pattern.findall(line)
                          if host != MARK_HOST and (host, int(port)) not in self.site_services]
        return found

    def hosts(self) -> set[str]:
        return {host for host, _ in self.destinations}

    def outside(self) -> set[str]:
        """Destinations that are not loopback, and socket families that could leave the machine."""
        other_families = {family for line in self._lines() for family in _FAMILY.findall(line)
                          if family not in LOCAL_FAMILIES | {"AF_INET", "AF_INET6"}}
        return {host for host in self.hosts() if not is_loopback(host)} | other_families

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None
        self.log.unlink(missing_ok=True)


def site_services() -> frozenset[tuple[str, int]]:
    """The database and Redis servers of ``scripts/with_services.py`` (``DATABASE_URL``, ``REDIS_URL``)."""
    found = set()
    for variable in ("DATABASE_URL", "REDIS_URL"):
        url = urlsplit(os.environ.get(variable, ""))
        if url.hostname and url.port and is_loopback(url.hostname):
            found.add((url.hostname, url.port))
    return frozenset(found)


def watch_this_process() -> SyscallWatch:
    return SyscallWatch(os.getpid(), site_services=site_services()).start()
