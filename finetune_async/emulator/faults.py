"""Fault injection: the failures a real network and a busy API produce, on demand.

Off by default. A :class:`Faults` object holds *rules* (random faults at a rate, plus added
latency, for some routes) and *injections* (deterministic: "the next N requests to route R
fail with kind K"). It can be changed while the emulator runs (``emu.faults``).

Kinds
    ``429``   answer 429 ``rate_limit_exceeded`` with ``retry-after-ms`` and ``retry-after``
              headers; the action is not applied.
    ``500``   answer 500 ``server_error``; not applied.
    ``503``   answer 503 ``server_error`` ("overloaded"); not applied.
    ``reset`` close the connection before doing anything: no answer, not applied.
    ``lost``  apply the action (the job/file/upload is created, cancelled, …), then close the
              connection without answering: the client cannot tell whether it happened.
    ``late``  accept the request (its whole body is read first), wait ``late`` seconds (default
              2), then apply the action whether or not the client still waits, and only then
              answer (if the client is gone, nobody hears it). A job created this way has the
              late time as ``created_at`` and is not listed before it. This is the API that
              validates a large training file inside ``POST /fine_tuning/jobs`` and acts after
              the client's read deadline passed. Opt-in: not among a rule's default kinds.

Routes are ``METHOD:PATH`` where PATH is the route template under ``/v1`` (Azure ``/openai/…``
paths are matched as their ``/v1/…`` twins) or a concrete path; ``*`` globs (fnmatch), and the
method may be left out. Examples: ``POST:/v1/fine_tuning/jobs``,
``GET:/v1/fine_tuning/jobs/{fine_tuning_job_id}``, ``GET:/v1/fine_tuning/jobs/*``, ``/v1/files*``.

Spec string (``--faults``), rules separated by ``;``, each a ``,``-separated list of ``key=value``::

    spec   := rule (";" rule)*          |  "" | "off"
    rule   := item ("," item)*
    item   := "rate=" FLOAT             probability in [0, 1] that a matching request faults
            | "kinds=" KIND ("+" KIND)*  drawn uniformly; default 429+500+503+reset+lost
                                         (KIND is one of 429 500 503 reset lost late)
            | "latency=" FLOAT ["-" FLOAT]  seconds added to matching requests (a range is uniform)
            | "routes=" ROUTE ("+" ROUTE)*  default: every route
            | "retry_after=" FLOAT       seconds advertised on 429 answers (default 1)
            | "late=" FLOAT              seconds a ``late`` fault waits before acting (default 2;
                                         only in a rule whose kinds include late)
            | "seed=" INT                seeds the random draws (whole Faults object)

    e.g. rate=0.3,kinds=429+500+503+reset+lost,latency=0.05,routes=POST:/v1/fine_tuning/jobs+POST:/v1/files
         rate=0.5,kinds=late,late=3,routes=POST:/v1/fine_tuning/jobs

In Python::

    faults = Faults(rate=0.2, kinds=("429", "reset"), routes=("POST:/v1/fine_tuning/jobs",))
    faults.inject("POST:/v1/fine_tuning/jobs", "lost", count=1)   # exactly the next create
    faults.inject("POST:/v1/files", "late", seconds=2.5)          # the next upload acts 2.5 s late
    emu.faults.configure("latency=0.01")                          # replace the rules at runtime

A request may also carry ``x-emulator-fault: KIND`` to get that fault deterministically
(``late`` waits the default 2 seconds; ``late:SECONDS`` waits that long).
"""

from __future__ import annotations

import fnmatch
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

__all__ = ["DEFAULT_KINDS", "DEFAULT_LATE", "KINDS", "Fault", "FaultKind", "FaultRule", "Faults"]

FaultKind = Literal["429", "500", "503", "reset", "lost", "late"]
#: Every valid kind.
KINDS: tuple[FaultKind, ...] = ("429", "500", "503", "reset", "lost", "late")
#: The kinds a random rule draws from when none are given (``late`` is opt-in: it makes
#: requests slow, which would change what existing rate-based tests measure).
DEFAULT_KINDS: tuple[FaultKind, ...] = ("429", "500", "503", "reset", "lost")
#: Seconds a ``late`` fault waits before acting when no other value is given.
DEFAULT_LATE = 2.0


def _kind(value: str) -> FaultKind:
    if value not in KINDS:
        raise ValueError(f"unknown fault kind {value!r}; expected one of {', '.join(KINDS)}")
    return value


def _late(value: float | str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"late must be a number of seconds, not {value!r}") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"late must be a finite number of seconds >= 0, not {value!r}")
    return seconds


def _route_matches(pattern: str, method: str, template: str, path: str, also: Sequence[str] = ()) -> bool:
    if ":" in pattern and not pattern.startswith("/"):
        want_method, _, pat = pattern.partition(":")
        if want_method != "*" and want_method.upper() != method:
            return False
    else:
        pat = pattern
    return any(pat == p or fnmatch.fnmatchcase(p, pat) for p in (template, path, *also))


@dataclass
class FaultRule:
    """Random faults at ``rate`` and added ``latency`` (seconds, or a (low, high) range) on ``routes``.

    ``late`` is how many seconds a ``late`` fault drawn by this rule waits before acting.
    """

    rate: float = 0.0
    kinds: tuple[FaultKind, ...] = DEFAULT_KINDS
    latency: tuple[float, float] = (0.0, 0.0)
    routes: tuple[str, ...] = ()
    retry_after: float = 1.0
    late: float = DEFAULT_LATE

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        self.kinds = tuple(_kind(k) for k in self.kinds)
        if not self.kinds:
            raise ValueError("kinds must not be empty")
        low, high = self.latency
        if low < 0 or high < low:
            raise ValueError("latency must be >= 0 (and a range low-high with low <= high)")
        self.late = _late(self.late)

    def matches(self, method: str, template: str, path: str, also: Sequence[str] = ()) -> bool:
        """Whether this rule applies to a request (``also``: see :meth:`Faults.decide`)."""
        return not self.routes or any(_route_matches(r, method, template, path, also) for r in self.routes)


class Fault(NamedTuple):
    """What to do to one request: wait ``latency`` seconds, then fail with ``kind`` (None: answer normally).

    ``retry_after`` is what a ``429`` advertises; ``late`` is how long a ``late`` fault waits
    between accepting the request and acting on it.
    """

    kind: FaultKind | None
    latency: float = 0.0
    retry_after: float = 1.0
    late: float = DEFAULT_LATE


@dataclass
class _Injection:
    route: str
    kind: FaultKind
    remaining: int
    late: float = DEFAULT_LATE


class Faults:
    """The emulator's fault configuration; safe to change while it serves.

    ``Faults()`` injects nothing. Keyword arguments build one rule (see :class:`FaultRule`);
    ``rules`` gives several. ``history`` records every fault applied, as ``(route, kind)``.
    """

    def __init__(
        self,
        rules: list[FaultRule] | None = None,
        *,
        rate: float = 0.0,
        kinds: tuple[str, ...] | list[str] = DEFAULT_KINDS,
        latency: float | tuple[float, float] = 0.0,
        routes: tuple[str, ...] | list[str] = (),
        retry_after: float = 1.0,
        late: float = DEFAULT_LATE,
        seed: int | None = None,
    ) -> None:
        self.rules = list(rules or [])
        lat = (float(latency), float(latency)) if isinstance(latency, (int, float)) else latency
        if rate > 0 or lat[1] > 0:
            self.rules.append(
                FaultRule(
                    rate=rate,
                    kinds=tuple(_kind(k) for k in kinds),
                    latency=lat,
                    routes=tuple(routes),
                    retry_after=retry_after,
                    late=late,
                )
            )
        self.seed = seed
        self.history: list[tuple[str, FaultKind]] = []
        self._injections: list[_Injection] = []
        self._rng = random.Random(seed)

    def __repr__(self) -> str:
        return f"Faults(rules={self.rules!r}, injections={len(self._injections)}, seed={self.seed!r})"

    @classmethod
    def parse(cls, spec: str | None) -> Faults:
        """Build from a spec string (grammar in the module docstring); ValueError when malformed."""
        faults = cls()
        faults.configure(spec)
        return faults

    def configure(self, spec: str | None) -> None:
        """Replace the rules with those of a spec string (injections are kept)."""
        rules: list[FaultRule] = []
        seed: int | None = self.seed
        text = (spec or "").strip()
        if text and text.lower() not in ("off", "none"):
            for chunk in text.split(";"):
                if not chunk.strip():
                    continue
                kwargs: dict[str, object] = {}
                kinds: tuple[FaultKind, ...] = DEFAULT_KINDS
                for item in chunk.split(","):
                    key, sep, value = item.strip().partition("=")
                    if not sep:
                        raise ValueError(f"fault spec item {item!r} is not key=value")
                    key, value = key.strip(), value.strip()
                    if key == "rate":
                        kwargs["rate"] = float(value)
                    elif key == "kinds":
                        kwargs["kinds"] = kinds = tuple(_kind(k.strip()) for k in value.split("+") if k.strip())
                    elif key == "latency":
                        low, dash, high = value.partition("-")
                        kwargs["latency"] = (float(low), float(high if dash else low))
                    elif key == "routes":
                        kwargs["routes"] = tuple(r.strip() for r in value.split("+") if r.strip())
                    elif key == "retry_after":
                        kwargs["retry_after"] = float(value)
                    elif key == "late":
                        kwargs["late"] = _late(value)
                    elif key == "seed":
                        seed = int(value)
                    else:
                        raise ValueError(f"unknown fault spec key {key!r}")
                if "late" in kwargs and "late" not in kinds:
                    # Almost certainly a mistake: the default kinds never draw a late fault.
                    raise ValueError("late= only applies to a rule whose kinds include late (kinds=...+late)")
                rules.append(FaultRule(**kwargs))  # type: ignore[arg-type]
        self.rules = rules
        if seed != self.seed:
            self.seed = seed
            self._rng = random.Random(seed)

    def inject(self, route: str, kind: str, count: int = 1, *, seconds: float | None = None) -> None:
        """Make the next ``count`` requests matching ``route`` fail with ``kind`` (exactly, no randomness).

        ``seconds`` is how long a ``late`` fault waits before acting (default
        :data:`DEFAULT_LATE`); ValueError for any other kind, a bad kind or a bad count.
        """
        if count < 1:
            raise ValueError("count must be >= 1")
        checked = _kind(kind)
        if seconds is not None and checked != "late":
            raise ValueError(f"seconds= only applies to late faults, not {kind!r}")
        self._injections.append(_Injection(route, checked, count, _late(DEFAULT_LATE if seconds is None else seconds)))

    def clear(self) -> None:
        """Remove every rule and pending injection (history is kept)."""
        self.rules = []
        self._injections = []

    @property
    def active(self) -> bool:
        """Whether any rule or injection is configured."""
        return bool(self.rules or self._injections)

    def decide(
        self, method: str, template: str, path: str, forced: str | None = None, *, also: Sequence[str] = ()
    ) -> Fault:
        """The fault (if any) for one request; injections first, then the rules in order.

        A rule matches the route ``template``, the ``path``, or any of ``also`` (a dialect's own
        path and template, where ``template`` and ``path`` are OpenAI's names for them).

        ``forced`` is an ``x-emulator-fault`` header value, ``KIND`` or ``late:SECONDS``; it
        wins over everything (ValueError when malformed).
        """
        route = f"{method}:{template}"
        latency = 0.0
        retry_after = 1.0
        late = DEFAULT_LATE
        kind: FaultKind | None = None
        if forced:
            name, sep, arg = forced.partition(":")
            kind = _kind(name.strip())
            if sep:
                if kind != "late":
                    raise ValueError(f"only late takes seconds (KIND:SECONDS), not {kind!r}")
                late = _late(arg.strip())
        if kind is None:
            for inj in self._injections:
                if _route_matches(inj.route, method, template, path, also):
                    inj.remaining -= 1
                    if inj.remaining <= 0:
                        self._injections.remove(inj)
                    kind = inj.kind
                    late = inj.late
                    break
        for rule in self.rules:
            if not rule.matches(method, template, path, also):
                continue
            low, high = rule.latency
            if high > 0:
                latency += low if low == high else self._rng.uniform(low, high)
            if kind is None and rule.rate > 0 and self._rng.random() < rule.rate:
                kind = self._rng.choice(rule.kinds)
                retry_after = rule.retry_after
                late = rule.late
        if kind is not None:
            self.history.append((route, kind))
        return Fault(kind, latency, retry_after, late)
