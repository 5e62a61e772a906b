"""Load balancing: pure algorithms, a pool with health checks, and the L4 and L7 proxies."""
from .algorithms import ALGORITHMS, BackendState, Choice, make_algorithm
from .l4 import L4Balancer
from .pool import BackendPool, HealthConfig

__all__ = ["ALGORITHMS", "BackendPool", "BackendState", "Choice", "HealthConfig", "L4Balancer", "make_algorithm"]
