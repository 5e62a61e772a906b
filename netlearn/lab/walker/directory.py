"""What the walker may dial: the lab's own services, by address, and nothing else.

DNS answers are data from the lab zone, but they are still checked: a lab name that points
outside the lab (``outside.netlearn.test``), or a record changed mid-walk to a foreign address
(DNS rebinding), must never lead to a connection. The directory is the allow-list of
``(address, URL port) -> where it really listens``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..events import Endpoint
from .url import LabTarget


@dataclass(frozen=True)
class LabDirectory:
    resolver: Endpoint
    client_host: str
    #: (IP address, port in the URL) -> the real listening endpoint and its role.
    services: dict[tuple[str, int], LabTarget] = field(default_factory=dict)

    def target_for(self, address: str, url_port: int) -> LabTarget | None:
        return self.services.get((address, url_port))

    def is_lab_address(self, address: str) -> bool:
        return any(addr == address for addr, _ in self.services)
