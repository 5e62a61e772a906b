"""The availability lab's "try it" demonstrations: each starts real servers, does the thing, measures it.

Every coroutine here has the same shape — ``(stream, config, correlation_id, options)`` — emits
its events tagged with ``correlation_id``, stops everything it started (even on error), runs in a
few seconds at the defaults, and returns a JSON-ready dict of *measured* figures. The lead calls
them from lessons' "try it" steps and ``runlab``; :data:`DEMOS` maps their names to them.

The io-models comparison is the one that saturates the machine, so it runs one at a time per
process through :data:`COMPARISON_QUEUE`; callers learn their place through ``on_position`` (an
option) and :func:`comparison_queue_status`.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .availability_config import AvailabilityConfig
from .events import Endpoint
from .ha import HAPair
from .ha.demo import run_ft_demo, run_ha_failover_demo
from .iomodels import NioServer
from .iomodels.compare import ComparisonRejected, ComparisonSpec, compare_models
from .iomodels.demos import backlog_demo, graceful_shutdown_demo
from .iomodels.queue import ComparisonQueue, QueueFull
from .registry import RegistryServer, ServiceInstance
from .registry.demo import Options, run_client_side_demo
from .registry.demo import step as _step
from .stream import EventStream

#: One comparison at a time for the whole process (the lab is one per process too).
COMPARISON_QUEUE = ComparisonQueue()

__all__ = ["COMPARISON_QUEUE", "DEMOS", "ComparisonRejected", "QueueFull", "comparison_queue_status",
           "run_backlog_demo", "run_client_side_demo", "run_ft_demo", "run_graceful_shutdown_demo",
           "run_ha_failover_demo", "run_io_models_comparison", "StandingAvailabilityLab"]


# -- server handling -------------------------------------------------------------------------------
def comparison_queue_status(queue: ComparisonQueue | None = None) -> dict[str, object]:
    """Who is running and how many wait (for a page to show before it asks to run)."""
    return (queue or COMPARISON_QUEUE).status()


async def run_io_models_comparison(stream: EventStream, config: AvailabilityConfig, correlation_id: str | None,
                                   options: Options = None, *, clients: int | None = None,
                                   queue: ComparisonQueue | None = None,
                                   on_position: Callable[[int], None] | None = None,
                                   on_progress: Callable[[float, str], None] | None = None) -> dict[str, Any]:
    """OIO vs NIO vs local (vs embedded) under ``clients`` slow clients; queued one at a time.

    Raises :class:`ComparisonRejected` (a ``ValueError``) for more clients than
    ``config.max_comparison_clients`` or unknown models, before queueing; :class:`QueueFull` when
    too many wait. Options: ``clients``, ``duration``, ``think_ms``, ``service_ms``, ``models``,
    ``idle`` (connections that never send) and ``oio_threads`` (the OIO pool's cap, 0 = unbounded).
    """
    opts = dict(options or {})
    spec = ComparisonSpec(
        clients=int(clients if clients is not None else opts.get("clients", 50)),
        duration=float(opts.get("duration", 1.0)), think_ms=int(opts.get("think_ms", 20)),
        service_ms=int(opts.get("service_ms", 10)), models=tuple(opts.get("models", ("oio", "nio", "local"))),
        workers=config.nio_workers, idle=int(opts.get("idle", 0)), oio_threads=int(opts.get("oio_threads", 0)))
    spec.validate(max_clients=config.max_comparison_clients)
    queue = queue or COMPARISON_QUEUE

    def told(position: int) -> None:
        if position:
            _step(stream, correlation_id, f"queued: {position} comparison(s) ahead of this one",
                  queue_position=position, step="queued")
        if on_position is not None:
            on_position(position)

    async with queue.slot(label=correlation_id or "comparison", on_position=told) as ticket:
        _step(stream, correlation_id, "comparison starting", ticket=ticket.number, step="comparison_start")
        result = await compare_models(spec, stream=stream, hosts={"oio": config.oio, "nio": config.nio},
                                      client_host=config.load_client_host, correlation_id=correlation_id,
                                      timeout=config.io_timeout, on_progress=on_progress)
    return result


async def run_backlog_demo(stream: EventStream, config: AvailabilityConfig, correlation_id: str | None,
                           options: Options = None) -> dict[str, Any]:
    """Pause accept(); open backlog + 1 + ``extra`` connections; see what Linux does. Options: backlog, extra."""
    opts = dict(options or {})
    return await backlog_demo(stream=stream, host=config.backlog_server.host, port=config.backlog_server.port,
                              client_host=config.load_client_host,
                              backlog=max(1, min(int(opts.get("backlog", 4)), 64)),
                              extra=max(1, min(int(opts.get("extra", 4)), 32)), correlation_id=correlation_id)


async def run_graceful_shutdown_demo(stream: EventStream, config: AvailabilityConfig, correlation_id: str | None,
                                     options: Options = None) -> dict[str, Any]:
    """In-flight slow requests, then shutdownGracefully() (and a hard stop for contrast).

    Options: ``in_flight`` (default 8), ``slow_ms`` (default 300), ``hard_contrast`` (default True).
    """
    opts = dict(options or {})
    return await graceful_shutdown_demo(stream=stream, host=config.shutdown_server.host,
                                        port=config.shutdown_server.port, client_host=config.load_client_host,
                                        in_flight=max(1, min(int(opts.get("in_flight", 8)), 64)),
                                        slow_ms=max(50, min(int(opts.get("slow_ms", 300)), 2000)),
                                        hard_contrast=bool(opts.get("hard_contrast", True)),
                                        correlation_id=correlation_id)


Demo = Callable[[EventStream, AvailabilityConfig, "str | None", Options], Awaitable[dict[str, Any]]]
DEMOS: dict[str, Demo] = {
    "client_side": run_client_side_demo, "ha_failover": run_ha_failover_demo, "ft": run_ft_demo,
    "io_models": run_io_models_comparison, "backlog": run_backlog_demo, "graceful_shutdown": run_graceful_shutdown_demo,
}


class StandingAvailabilityLab:
    """The long-running part, for ``runlab`` and the lessons' live diagrams.

    The demos above start and stop their own servers; this keeps a registry with its instances,
    the HA pair and an NIO server running on the configured addresses, so a learner (or
    ``runlab``) can poke them: :meth:`kill_instance`, :meth:`restart_instance`,
    :meth:`kill_active`, :meth:`restore_active`. Everything reports on ``stream``.
    """

    def __init__(self, stream: EventStream, config: AvailabilityConfig | None = None) -> None:
        self.stream = stream
        self.config = config or AvailabilityConfig()
        self.registry: RegistryServer | None = None
        self.instances: dict[str, ServiceInstance] = {}
        self.pair: HAPair | None = None
        self.nio: NioServer | None = None
        self.state = "stopped"

    @property
    def address(self) -> Endpoint:
        return self.registry.address if self.registry else self.config.registry

    async def start(self) -> None:
        c = self.config
        self.state = "starting"
        try:
            self.registry = RegistryServer(stream=self.stream, host=c.registry.host, port=c.registry.port,
                                           heartbeat_interval=c.heartbeat_interval, missed=c.eviction_missed,
                                           sweep_interval=c.eviction_sweep, max_instances=c.max_instances,
                                           max_payload=c.max_payload)
            await self.registry.start()
            for n, endpoint in enumerate(c.instances):
                await self.restart_instance(f"shop-{n + 1}", _endpoint=endpoint, _zone=c.instance_zones[n])
            self.pair = HAPair(stream=self.stream, config=c)
            await self.pair.start()
            self.nio = NioServer(stream=self.stream, host=c.nio.host, port=c.nio.port, workers=c.nio_workers,
                                 max_connections=c.max_connections, max_frame=c.max_frame)
            await self.nio.start()
        except BaseException:
            await self.stop()
            self.state = "failed"
            raise
        self.state = "running"

    async def kill_instance(self, instance_id: str) -> None:
        await self.instances[instance_id].kill()

    async def restart_instance(self, instance_id: str, *, _endpoint: Endpoint | None = None,
                               _zone: str | None = None) -> ServiceInstance:
        """(Re)start an instance on its address; it registers again at once."""
        old = self.instances.get(instance_id)
        if old is not None and old.state == "running":
            return old
        assert self.registry is not None
        endpoint = _endpoint or (old.address if old else None)
        if endpoint is None:
            raise KeyError(f"no instance {instance_id!r}")
        instance = ServiceInstance(stream=self.stream, service="shop", instance_id=instance_id, host=endpoint.host,
                                   port=endpoint.port, zone=_zone or (old.zone if old else "default"),
                                   registry=self.registry.address, heartbeat_interval=self.config.heartbeat_interval)
        await instance.start()
        self.instances[instance_id] = instance
        return instance

    async def kill_active(self) -> None:
        assert self.pair is not None
        await self.pair.kill_active()

    async def restore_active(self) -> None:
        assert self.pair is not None
        await self.pair.restore_active()

    async def stop(self) -> None:
        self.state = "stopping"
        if self.nio is not None:
            await self.nio.stop()
        if self.pair is not None:
            await self.pair.stop()
        for instance in self.instances.values():
            await instance.stop()
        if self.registry is not None:
            await self.registry.stop()
        self.nio = self.pair = self.registry = None
        self.instances = {}
        self.state = "stopped"

    def describe(self) -> dict[str, Any]:
        return {"state": self.state,
                "registry": self.registry.describe() if self.registry else None,
                "instances": [i.describe() for i in self.instances.values()],
                "ha": self.pair.describe() if self.pair else None,
                "nio": self.nio.describe() if self.nio else None}
