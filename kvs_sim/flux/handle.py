"""``flux.Flux``: a handle on one rank of a simulated (or live) instance.

Theory of operation
-------------------
A :class:`Flux` handle wraps a plain :class:`~kvs_sim.handle.Handle` (which turns
calls into requests and returns futures) and the *instance* it belongs to: a
:class:`~kvs_sim.sim.cluster.Cluster`, or anything with the same four members
(``size``, ``handle(rank, userid=, name=)``, ``wait(fut, timeout=None)``,
``run()``).  ``flux.kvs`` functions call the plain handle and then
:meth:`Flux._wait`, which advances virtual time until the answer is there, the
way a blocking ``flux_future_get`` runs Flux's reactor until the response comes.

Which instance ``Flux()`` attaches to:

* ``Flux(cluster=c, rank=r, userid=u)``: that cluster, that rank;
* ``Flux(url)`` or the ``KVS_SIM_URI`` environment variable: ``sim://?size=8&
  fanout=2&seed=1&rank=3[&commit_response=documented]`` names a simulated
  instance; instances are shared per process by their parameters (not the
  rank), so every handle a script opens talks to the same cluster.  ``mqtt://``
  URIs go to the live mode's hook ``kvs_sim.live.flux_backend(uri)``, which
  returns an instance (its ``default_rank`` attribute, if any, picks the rank);
* nothing: the process's default instance, ``sim://?size=8&fanout=2&seed=0&rank=0``.

The reactor.  Continuations registered with ``Future.then`` run only inside
:meth:`Flux.reactor_run`, never in the middle of a blocking call, as in Flux.
Answers that arrive put the future's dispatch on this handle's ready queue;
``reactor_run`` alternates between running ready callbacks (outside the engine,
so a callback may itself make blocking calls) and running the instance until
something becomes ready.  It returns, as Flux's reactor does, once nothing is
left to wait for: no ready callback and no *armed* continuation (a ``then``
whose future has not answered yet, or a watch that was not cancelled and whose
callback reset it).  A simulated instance that goes idle also ends it (nothing
will ever answer); a live one is waited on for as long as Flux would wait.
"""

from __future__ import annotations

import errno
import importlib
import itertools
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from kvs_sim.handle import Handle

__all__ = ["DEFAULT_URI", "URI_ENV", "Flux", "Instance", "SimURI", "forget_instances", "parse_uri"]

URI_ENV = "KVS_SIM_URI"
"""The environment variable naming the instance ``Flux()`` attaches to."""

DEFAULT_URI = "sim://?size=8&fanout=2&seed=0&rank=0"
"""The instance ``Flux()`` attaches to when :data:`URI_ENV` is not set."""

_COMMIT_RESPONSES = ("observed", "documented")


class Instance(Protocol):
    """What a :class:`Flux` handle needs from the instance it talks to."""

    @property
    def size(self) -> int: ...

    def handle(
        self, rank: int = 0, *, userid: int | None = None, name: str | None = None
    ) -> Any: ...

    def wait(self, fut: Any, timeout: float | None = None) -> Any: ...

    def run(self) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class SimURI:
    """A parsed ``sim://`` URI."""

    size: int = 8
    fanout: int = 2
    seed: int = 0
    rank: int = 0
    commit_response: str = "observed"

    def instance_key(self) -> tuple[int, int, int, str]:
        """What identifies the shared instance (every field but the rank)."""
        return (self.size, self.fanout, self.seed, self.commit_response)

    def __str__(self) -> str:
        query = f"size={self.size}&fanout={self.fanout}&seed={self.seed}&rank={self.rank}"
        if self.commit_response != "observed":
            query += f"&commit_response={self.commit_response}"
        return f"sim://?{query}"


def _int_param(name: str, text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{URI_ENV}: {name} must be an integer, got {text!r}") from None
    if value < minimum:
        raise ValueError(f"{URI_ENV}: {name} must be >= {minimum}, got {value}")
    return value


def parse_uri(uri: str) -> SimURI:
    """Parse a ``sim://`` URI; :class:`ValueError` names the bad part.

    >>> parse_uri("sim://?size=4&rank=3").rank
    3
    """
    if not isinstance(uri, str):
        raise ValueError(f"{URI_ENV}: a URI must be a string, got {uri!r}")
    parts = urlsplit(uri)
    if parts.scheme != "sim":
        raise ValueError(f"{URI_ENV}: expected a sim:// or mqtt:// URI, got {uri!r}")
    if parts.netloc or parts.path not in ("", "/") or parts.fragment:
        raise ValueError(
            f"{URI_ENV}: a sim:// URI takes only query parameters (sim://?size=8&rank=3), "
            f"got {uri!r}"
        )
    fields: dict[str, Any] = {}
    for name, text in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
        key = name.replace("-", "_")
        if key in fields:
            raise ValueError(f"{URI_ENV}: parameter {name!r} given twice in {uri!r}")
        if key in ("size", "fanout"):
            fields[key] = _int_param(key, text, 1)
        elif key in ("seed", "rank"):
            fields[key] = _int_param(key, text, 0)
        elif key == "commit_response":
            if text not in _COMMIT_RESPONSES:
                raise ValueError(
                    f"{URI_ENV}: commit_response must be one of {', '.join(_COMMIT_RESPONSES)}, "
                    f"got {text!r}"
                )
            fields[key] = text
        else:
            raise ValueError(
                f"{URI_ENV}: unknown parameter {name!r} in {uri!r} "
                "(known: size, fanout, seed, rank, commit_response)"
            )
    parsed = SimURI(**fields)
    if parsed.rank >= parsed.size:
        raise ValueError(f"{URI_ENV}: rank must be in 0..{parsed.size - 1}, got {parsed.rank}")
    return parsed


_INSTANCES: dict[tuple[int, int, int, str], Any] = {}


def _sim_instance(uri: SimURI) -> Any:
    """The process-wide simulated instance for ``uri``'s parameters."""
    key = uri.instance_key()
    cluster = _INSTANCES.get(key)
    if cluster is None:
        from kvs_sim.rank.config import RankConfig
        from kvs_sim.sim.cluster import Cluster

        cluster = Cluster(
            size=uri.size,
            fanout=uri.fanout,
            seed=uri.seed,
            config=RankConfig(commit_response=uri.commit_response),
        )
        _INSTANCES[key] = cluster
    return cluster


def share_instance(uri: SimURI, wrap: Callable[[Any], Any]) -> Any:
    """Create the simulated instance for ``uri`` now, replaced by ``wrap(instance)``
    for every ``Flux()`` that attaches to it (``kvs-sim exec`` serving children)."""
    wrapped = wrap(_sim_instance(uri))
    _INSTANCES[uri.instance_key()] = wrapped
    return wrapped


def forget_instances() -> None:
    """Drop the shared simulated instances, so the next ``Flux()`` starts afresh.

    ``kvs-sim exec`` calls this before each script: a script sees a new instance,
    as it would under ``flux start``.
    """
    _INSTANCES.clear()


def _live_instance(uri: str) -> tuple[Any, int]:
    try:
        live = importlib.import_module("kvs_sim.live")
    except ImportError as exc:
        raise RuntimeError(
            f"{uri!r} is a live URI: it needs kvs_sim.live, which cannot be imported ({exc})"
        ) from exc
    hook = getattr(live, "flux_backend", None)
    if hook is None:
        raise RuntimeError(
            f"{uri!r} is a live URI, but this kvs_sim.live has no flux_backend(uri) hook: "
            "flux.Flux() cannot attach to a live instance yet"
        )
    instance = hook(uri)
    return instance, int(getattr(instance, "default_rank", 0))


_names = itertools.count()


class Flux:
    """A Flux handle on one rank.  See the module docstring for how it is chosen.

    ``url`` (first positional, as in Flux) is a ``sim://`` or ``mqtt://`` URI;
    ``flags`` is accepted and ignored.  ``userid`` is the uid the handle acts as
    (default: the instance owner).
    """

    def __init__(
        self,
        url: str | None = None,
        flags: int = 0,
        *,
        cluster: Instance | None = None,
        rank: int | None = None,
        userid: int | None = None,
        name: str | None = None,
    ) -> None:
        del flags  # flux_open flags mean nothing here
        if cluster is not None:
            if url is not None:
                raise ValueError("give either a URI or a cluster, not both")
            instance, default_rank = cluster, 0
        else:
            uri = url if url is not None else os.environ.get(URI_ENV) or DEFAULT_URI
            if uri.startswith("mqtt://") or uri.startswith("mqtts://"):
                instance, default_rank = _live_instance(uri)
            else:
                parsed = parse_uri(uri)
                instance, default_rank = _sim_instance(parsed), parsed.rank
        self._instance: Instance = instance
        self._rank = default_rank if rank is None else rank
        self._handle: Handle = instance.handle(
            self._rank, userid=userid, name=name or f"flux{next(_names)}@{self._rank}"
        )
        self._kvs_txn: Any = None
        """The pending transaction of ``flux.kvs.put()`` and friends (a core Txn)."""
        self._ready: deque[Callable[[], Any]] = deque()
        self._thens: list[Any] = []
        """Futures with a ``then`` continuation (see :meth:`_waiting`)."""
        self._wake: Any = None
        self._stopped = False

    # -- what scripts use ---------------------------------------------------------

    def get_rank(self) -> int:
        """The rank this handle talks to."""
        return self._rank

    def attr_get(self, attr_name: str) -> str:
        """A broker attribute as a string: ``rank`` and ``size`` are known;
        anything else is ``ENOENT``, as for an attribute Flux does not have."""
        if attr_name == "rank":
            return str(self._rank)
        if attr_name == "size":
            return str(self._instance.size)
        raise OSError(errno.ENOENT, f"no such attribute: {attr_name!r}")

    def reactor_run(self, reactor: Any = None, flags: int = 0) -> int:
        """Run continuations until nothing is left to wait for (see the module
        docstring).  Returns 0 (Flux returns a count >= 0).  :meth:`reactor_stop`,
        called from a continuation, makes it return after that continuation."""
        del reactor, flags
        if _running(self._instance):
            raise RuntimeError("reactor_run() cannot be called from inside the simulation")
        from kvs_sim.core.errors import TimedOut

        self._stopped = False
        while not self._stopped:
            if self._ready:
                self._ready.popleft()()
                continue
            if not self._waiting():
                break
            wake = self._handle.backend.future()
            self._wake = wake
            try:
                self._instance.wait(wake)
            except TimedOut:
                continue  # a live instance's wait limit: Flux's reactor keeps waiting
            except RuntimeError:
                if wake.done() or self._ready:
                    continue
                if _idle(self._instance):
                    break
                raise
            finally:
                self._wake = None
        self._stopped = False
        return 0

    def _waiting(self) -> bool:
        """True while a continuation may still be called (armed ``then``s)."""
        self._thens = [f for f in self._thens if f.then_cb is not None and not f._spent()]
        return any(f._armed for f in self._thens)

    def reactor_stop(self, reactor: Any = None) -> None:
        """Make :meth:`reactor_run` return once the running continuation returns."""
        del reactor
        self._stopped = True

    @property
    def aux_txn(self) -> Any:
        """Flux's name for the pending transaction (same as ``_kvs_txn``)."""
        return self._kvs_txn

    @aux_txn.setter
    def aux_txn(self, txn: Any) -> None:
        self._kvs_txn = txn

    # -- what the simulator adds ----------------------------------------------------

    @property
    def cluster(self) -> Instance:
        """The instance this handle belongs to (a Cluster in a simulation)."""
        return self._instance

    @property
    def handle(self) -> Handle:
        """The plain :class:`~kvs_sim.handle.Handle` underneath (futures, no waiting)."""
        return self._handle

    @property
    def userid(self) -> int:
        return self._handle.userid

    def __repr__(self) -> str:
        return f"<Flux rank={self._rank} userid={self._handle.userid}>"

    # -- plumbing for flux.kvs --------------------------------------------------------

    def _wait(self, fut: Any, timeout: float | None = None) -> Any:
        """Advance the instance until ``fut`` is done; its result, or raise.

        A timeout that passes raises ``TimedOut`` (``ETIMEDOUT``), as Flux does."""
        if not fut.done() and _running(self._instance):
            raise RuntimeError(
                "a blocking flux.kvs call cannot run inside an async process or an engine "
                "callback (it would have to run the simulation from inside itself): there, "
                "await commit_async()/kvs_watch_async() futures, or await the plain handle's "
                "futures (flux_handle.handle.get(key) ...)"
            )
        if timeout is None or fut.done():
            return self._instance.wait(fut)
        from kvs_sim.core.errors import TimedOut

        try:
            return self._instance.wait(fut, timeout=timeout)
        except TimeoutError as exc:
            if fut.done():
                return fut.result()
            raise TimedOut(errno.ETIMEDOUT, f"no answer within {timeout:g} s") from exc
        except RuntimeError:
            # A simulation that goes idle first would idle through the timeout too.
            if fut.done() or not _idle(self._instance):
                raise
            raise TimedOut(errno.ETIMEDOUT, f"no answer within {timeout:g} s") from None

    def _schedule(self, fn: Callable[[], Any]) -> None:
        """Queue a continuation for :meth:`reactor_run`; stop the engine if it runs
        on our behalf."""
        self._ready.append(fn)
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)


def _running(instance: Any) -> bool:
    """True if the instance's engine is running right now (we are called from it)."""
    return bool(getattr(getattr(instance, "engine", None), "_running", False))


def _idle(instance: Any) -> bool:
    """True if the instance has nothing left to simulate (or cannot tell)."""
    engine = getattr(instance, "engine", None)
    pending = getattr(engine, "pending_events", None)
    return pending is None or pending == 0
