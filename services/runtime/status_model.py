"""What ``patron status`` reports: services, producers' heads, consumers and their problems.

Plain data, filled by ``status_collect`` and rendered by ``status_report``.
"""

from __future__ import annotations

from dataclasses import dataclass

SERVING = "SERVING"


@dataclass(frozen=True)
class ProducerHeads:
    """What a producing service's ``GetHeads`` says about its outbox."""

    partition_count: int
    total_head: int  # sum of the partitions' heads: every event ever sequenced
    pruned_through: int  # sum of the partitions' pruned_through: events removed by retention


@dataclass(frozen=True)
class ServiceStatus:
    """One service: where it was asked, its health, and what went wrong asking it."""

    name: str
    address: str
    health: str  # SERVING, NOT_SERVING, or the gRPC error code (UNAVAILABLE, DEADLINE_EXCEEDED, ...)
    producer: ProducerHeads | None
    problems: tuple[str, ...] = ()  # failed status calls other than UNIMPLEMENTED, e.g. "GetHeads: ..."


@dataclass(frozen=True)
class PartitionStatus:
    """One consumer partition, as the consuming service reports it."""

    partition: int
    position: int
    head: int
    lag_events: int
    lag_seconds: float
    owner: str
    parked: int
    behind_retention: bool
    last_error: str


@dataclass(frozen=True)
class DeferredWork:
    """Work a consumer applied but left to a background round of its service, not done yet."""

    work: str  # e.g. "re-scoring"
    pending: int
    oldest_seconds: float


@dataclass(frozen=True)
class ConsumerStatus:
    """One consumer (in the service that runs it) with its partitions and their totals, and the
    work it left to a background round (``deferred``)."""

    consumer: str
    service: str
    producer: str
    partitions: tuple[PartitionStatus, ...]
    deferred: tuple[DeferredWork, ...] = ()

    @property
    def deferred_pending(self) -> int:
        """Items of deferred work waiting: with no lag, 0 means everything the consumer read is done."""
        return sum(d.pending for d in self.deferred)

    @property
    def partitions_owned(self) -> int:
        return sum(1 for p in self.partitions if p.owner)

    @property
    def position(self) -> int:
        return sum(p.position for p in self.partitions)

    @property
    def head(self) -> int:
        return sum(p.head for p in self.partitions)

    @property
    def lag_events(self) -> int:
        return sum(p.lag_events for p in self.partitions)

    @property
    def max_lag_events(self) -> int:
        return max((p.lag_events for p in self.partitions), default=0)

    @property
    def max_lag_seconds(self) -> float:
        return max((p.lag_seconds for p in self.partitions), default=0.0)

    @property
    def parked(self) -> int:
        return sum(p.parked for p in self.partitions)

    @property
    def behind_retention(self) -> tuple[int, ...]:
        return tuple(p.partition for p in self.partitions if p.behind_retention)

    @property
    def owners(self) -> tuple[str, ...]:
        return tuple(sorted({p.owner for p in self.partitions if p.owner}))


@dataclass(frozen=True)
class StatusReport:
    """Everything ``patron status`` found."""

    services: tuple[ServiceStatus, ...]
    consumers: tuple[ConsumerStatus, ...]

    @property
    def problems(self) -> tuple[str, ...]:
        """What an operator must act on, one line each: a service not SERVING or whose status could
        not be read, a consumer partition behind retention, a consumer with parked events."""
        found: list[str] = []
        for s in self.services:
            if s.health != SERVING:
                found.append(f"service {s.name} at {s.address} is {s.health}")
            found += [f"service {s.name}: {problem}" for problem in s.problems]
        for c in self.consumers:
            if c.behind_retention:
                partitions = ",".join(map(str, c.behind_retention))
                found.append(
                    f"consumer {c.consumer} ({c.service}) is behind retention on partitions {partitions}"
                )
            if c.parked:
                found.append(
                    f"consumer {c.consumer} ({c.service}) has {c.parked} parked event(s): "
                    f"patron parked list {c.service}"
                )
        return tuple(found)

    @property
    def ok(self) -> bool:
        """No problem: every service SERVING, every status read, no consumer partition behind
        retention and no parked event (an event that failed every attempt is never applied)."""
        return not self.problems

    @property
    def exit_code(self) -> int:
        """0 when :attr:`ok`, else 1."""
        return 0 if self.ok else 1
