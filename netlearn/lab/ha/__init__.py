"""High availability (an active/standby pair with VRRP-like advertisements and a virtual address)
and, for contrast, fault tolerance (a replica pair whose client asks both)."""
from __future__ import annotations

from .advert import AdvertError, Advertisement, AdvertPolicy, parse
from .ft import FTClient, Replica
from .machine import Action, State, VrrpMachine
from .node import HANode
from .pair import HAPair

__all__ = ["Action", "AdvertError", "AdvertPolicy", "Advertisement", "FTClient", "HANode", "HAPair", "Replica",
           "State", "VrrpMachine", "parse"]
