"""Client-side load balancing (the Eureka + Ribbon pattern): a registry with leases, instances that
renew them, and discovery clients that cache the registry and balance and retry by themselves."""
from __future__ import annotations

from .balancer import STRATEGIES, Candidate, Chooser, InstanceStats
from .client import CallResult, DiscoveryClient
from .instance import ServiceInstance
from .protocol import LeaseTable, RegistryError, parse_message
from .server import RegistryServer

__all__ = ["STRATEGIES", "CallResult", "Candidate", "Chooser", "DiscoveryClient", "InstanceStats", "LeaseTable",
           "RegistryError", "RegistryServer", "ServiceInstance", "parse_message"]
