"""Configuration of rank behaviour: service times, caches, Flux-version options.

One frozen :class:`RankConfig` is shared by every rank of a cluster.  The default
service times are calibrated on the figures a real Flux instance showed on a
2-core machine (``bench/data/flux_figures.json``, from
``shared/reference/flux-kvs-model.md``): ``python bench/calibration.py`` runs each
experiment in virtual time and ``docs/model.md`` says where each value comes from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

COMMIT_RESPONSES = ("observed", "documented")
RYW_VIA = ("setroot", "response")


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceTimes:
    """Seconds of service a rank spends per message of each kind."""

    message: float = 10e-6
    """Floor for any message (request parsing, dispatch)."""
    commit_base: float = 265e-6
    """Leader: applying one batch, before per-entry costs."""
    commit_per_entry: float = 5e-6
    """Leader: per directory entry rewritten while applying a batch."""
    commit_per_txn: float = 45e-6
    """Leader: per transaction in a batch (merging amortises ``commit_base``)."""
    lookup: float = 25e-6
    """Any rank: one lookup walk (per attempt; faults add a retry)."""
    setroot: float = 15e-6
    """Follower: applying one setroot event."""
    load: float = 120e-6
    """Any rank: serving one content load to a child."""
    publish: float = 170e-6
    """Leader: publishing one setroot event through its broker (after the batch's
    committers are answered, before the event leaves)."""

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0:
                raise ValueError(f"service time {name} must be a number >= 0, got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class RankConfig:
    """Behaviour shared by all ranks of one cluster."""

    hash_name: str = "sha1"
    inline_max: int | None = None
    """Values longer than this are stored as ``valref``; None = the core's default."""
    instance_owner: int = 0
    """The uid that owns the instance (and ``primary``)."""
    cache_expiry: float = 10.0
    """Seconds an unused cache entry survives on a follower (Flux: about 10 s)."""
    commit_response: str = "observed"
    """``observed``: a commit issued on a follower reports the root *before* its own
    write (Flux 0.88 as measured); ``documented``: it reports the root it produced."""
    ryw_via: str = "setroot"
    """How a follower's commit is made visible to its committer: ``setroot``
    (Flux today) answers the client once the setroot event naming the transaction
    has been applied on this rank; ``response`` (the older design in Flux's guide)
    moves this rank's root to the one the leader's commit response carries and
    answers at once, without waiting for the event.  Only the committing rank
    takes the piggy-backed root; ranks on the way down wait for the event."""
    request_retry: float | None = None
    """Seconds after which a follower asks again for an object or namespace root
    it is still waiting for (None: never).  Off in simulation, where requests are
    never lost; on in live mode, where the rank holding a request may be killed."""
    checkpoint_period: float | None = None
    """Seconds between the leader's periodic checkpoints of the primary root while
    versions wait for one (Flux's ``kvs.checkpoint-period``; None: only ``SYNC``
    commits and :meth:`Leader.checkpoint`, e.g. at shutdown, write one).  With a
    period, the leader also writes a start mark (its initial root and epoch, no
    checkpoint: lookups answer ENOENT, as Flux writes none at start), so a restart
    always resumes in a new epoch.  A leader crash loses the
    versions created since the last checkpoint."""
    service: ServiceTimes = field(default_factory=ServiceTimes)

    def __post_init__(self) -> None:
        if self.commit_response not in COMMIT_RESPONSES:
            raise ValueError(
                f"commit_response must be one of {', '.join(COMMIT_RESPONSES)}, "
                f"got {self.commit_response!r}"
            )
        if self.ryw_via not in RYW_VIA:
            raise ValueError(f"ryw_via must be one of {', '.join(RYW_VIA)}, got {self.ryw_via!r}")
        if self.cache_expiry <= 0:
            raise ValueError(f"cache_expiry must be > 0 seconds, got {self.cache_expiry!r}")
        if self.request_retry is not None and not self.request_retry > 0:
            raise ValueError(f"request_retry must be > 0 seconds, got {self.request_retry!r}")
        if self.checkpoint_period is not None and not self.checkpoint_period > 0:
            raise ValueError(
                f"checkpoint_period must be > 0 seconds, got {self.checkpoint_period!r}"
            )
        if self.inline_max is not None and self.inline_max < 0:
            raise ValueError(f"inline_max must be >= 0, got {self.inline_max!r}")
