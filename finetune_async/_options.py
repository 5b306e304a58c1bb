"""Per-call options and deadlines: :class:`RequestOptions` and :class:`Timeout`.

Pure data and validation, no I/O: the resources build a :class:`RequestOptions` from the official
SDK's four keywords (``timeout``, ``extra_headers``, ``extra_query``, ``extra_body``), the
transport applies it. :class:`Timeout` says how long a request may take; the session module
(:mod:`finetune_async._session`) turns it into aiohttp's deadlines.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import orjson

__all__ = ["NO_OPTIONS", "RequestOptions", "Timeout"]

_NO_FIELD = object()


@attrs.frozen(kw_only=True)
class Timeout:
    """Request deadlines in seconds: ``total`` for the whole request, ``connect`` to get a
    connection, ``read`` between two reads of the answer. ``None`` means no limit."""

    total: float | None = 600.0
    connect: float | None = None
    read: float | None = None

    @classmethod
    def coerce(cls, value: float | Timeout | Any | None) -> Timeout:
        """A :class:`Timeout` from seconds, an existing Timeout, None (no deadline), or the
        official SDK's ``openai.Timeout`` / an ``httpx.Timeout``.

        Those have no deadline for the whole request: their ``connect`` and ``read`` carry over
        and ``total`` is None (their ``write`` and ``pool`` have no counterpart here). Raises
        :class:`TypeError` for anything else.
        """
        if isinstance(value, Timeout):
            return value
        if value is None:
            return cls(total=None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return cls(total=float(value))
        phases: list[Any] = [getattr(value, "connect", _NO_FIELD), getattr(value, "read", _NO_FIELD)]
        if all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in phases):
            connect, read = (None if v is None else float(v) for v in phases)
            return cls(total=None, connect=connect, read=read)
        raise TypeError(
            f"timeout must be seconds, None, a finetune_async.Timeout or an httpx-style Timeout, "
            f"not {type(value).__name__}"
        )


def _omitted(value: object) -> bool:
    """Whether ``value`` is the official SDK's ``openai.omit`` (an ``Omit`` instance).

    Recognised by its class, so that a script ported from ``openai`` works unchanged without
    this package importing ``openai``.
    """
    kind = type(value)
    return kind.__name__ == "Omit" and kind.__module__.split(".", 1)[0] == "openai"


# RFC 9110 token characters: what a header name may be made of.
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_OPTION_NAMES = ("timeout", "extra_headers", "extra_query", "extra_body")


@attrs.frozen(kw_only=True, repr=False)
class RequestOptions:
    """The per-call options of one resource call, as the transport applies them.

    Built once per call by :meth:`of` from the official SDK's four keywords, and handed to
    :meth:`Transport.request` (a paginator keeps it for every page it fetches):

    * ``timeout``: the :class:`Timeout` of each attempt of this call, instead of the client's
      (None: the client's). Retries each get it afresh, as in the official SDK.
    * ``headers``: ``extra_headers`` as (name, value) pairs, applied last, case-insensitively,
      over the client's headers and credentials; a value of None removes that header.
    * ``query``: ``extra_query`` flattened to (name, value) pairs (nested mappings as
      ``name[key]``, lists as repeated names), applied over the method's parameters and the
      client's default query; a value of None removes that parameter.
    * ``body``: ``extra_body``, merged into a JSON body (an ``openai.omit`` value removes a key,
      None is sent as null) or added to a multipart body as form fields; not sent with a GET.

    Its repr shows header names, never their values: an ``extra_headers`` credential is
    redacted like the client's own.
    """

    timeout: Timeout | None = None
    headers: tuple[tuple[str, str | None], ...] = ()
    query: tuple[tuple[str, str | None], ...] = ()
    body: Mapping[str, Any] | None = None

    @classmethod
    def of(cls, given: Mapping[str, Any]) -> RequestOptions:
        """The options from a resource method's keywords (``timeout``, ``extra_headers``,
        ``extra_query``, ``extra_body``); :data:`NO_OPTIONS` when there are none.

        Raises :class:`TypeError` for an unknown keyword or an option of the wrong type, and
        :class:`ValueError` for a header name that is not a token or a value with a line break
        (named, never quoted: it may be a credential).
        """
        if not given:
            return NO_OPTIONS
        unknown = [name for name in given if name not in _OPTION_NAMES]
        if unknown:
            raise TypeError(
                f"unexpected keyword argument {unknown[0]!r} (besides its own parameters, a resource method "
                f"takes {', '.join(n + '=' for n in _OPTION_NAMES)})"
            )
        timeout = given.get("timeout", _NO_FIELD)
        return cls(
            timeout=None if timeout is _NO_FIELD else Timeout.coerce(timeout),
            headers=_header_pairs(given.get("extra_headers")),
            query=_query_pairs(given.get("extra_query")),
            body=_body_mapping(given.get("extra_body")),
        )

    def __repr__(self) -> str:
        headers = {name: "<redacted>" if value is not None else None for name, value in self.headers}
        return (
            f"RequestOptions(timeout={self.timeout!r}, extra_headers={headers!r}, "
            f"extra_query={dict(self.query)!r}, extra_body={self.body!r})"
        )

    def without_body(self) -> RequestOptions:
        """These options without ``extra_body``: for a request whose body already has it merged
        (a create merges it first, to recognise what it sent), and for the lookups that settle a
        lost create, which go with the same headers and query (the same project) but never
        carry another request's body."""
        return self if self.body is None else attrs.evolve(self, body=None)

    def merge_json(self, body: Any) -> Any:
        """``body`` (a JSON object, or None) with ``extra_body`` merged over it, last wins."""
        if self.body is None:
            return body
        if body is not None and not isinstance(body, Mapping):
            raise TypeError(f"extra_body cannot be merged into a JSON body of type {type(body).__name__}")
        merged = dict(body or {})
        for key, value in self.body.items():
            if _omitted(value):
                merged.pop(key, None)
            else:
                merged[key] = value
        return merged

    def merge_form(self, form: Mapping[str, str], file_fields: Iterable[str] = ()) -> dict[str, str]:
        """``form`` with ``extra_body`` added as multipart fields, as the official SDK sends them:
        a nested mapping as ``name[key]`` fields, ``True``/``False`` as ``true``/``false``, a
        None skipped, an ``openai.omit`` removing the field (and its ``name[...]`` fields).

        Raises :class:`ValueError` when a key names a file part, :class:`TypeError` for a
        list (no endpoint with a multipart body takes one) or another non-scalar value.
        """
        merged = dict(form)
        if self.body is None:
            return merged
        files = set(file_fields)
        for key, value in self.body.items():
            if key in files:
                raise ValueError(f"extra_body cannot replace the file part {key!r} of this multipart request")
            for existing in [k for k in merged if k == key or k.startswith(key + "[")]:
                del merged[existing]
            if not _omitted(value):
                merged.update(_flatten(key, value, "extra_body", allow_lists=False))
        return merged


#: The options of a call that was given none (shared: frozen).
NO_OPTIONS = RequestOptions()


def _header_pairs(value: object) -> tuple[tuple[str, str | None], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise TypeError(f"extra_headers must be a mapping of header names to values, not {type(value).__name__}")
    pairs: list[tuple[str, str | None]] = []
    for name, text in value.items():
        if not isinstance(name, str):
            raise TypeError(f"extra_headers: a header name must be a str, not {type(name).__name__}")
        if not name or not _TOKEN_CHARS.issuperset(name):
            raise ValueError(f"extra_headers: {name[:80]!r} is not a valid header name")
        if text is None or _omitted(text):
            pairs.append((name, None))
            continue
        if not isinstance(text, str):
            raise TypeError(
                f"extra_headers: the value of {name!r} must be a str (None removes the header), "
                f"not {type(text).__name__}"
            )
        if any(ch in text for ch in "\r\n\x00"):
            raise ValueError(f"extra_headers: the value of {name!r} holds a line break or a NUL, and was not sent")
        pairs.append((name, text))
    return tuple(pairs)


def _query_pairs(value: object) -> tuple[tuple[str, str | None], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise TypeError(f"extra_query must be a mapping of parameter names to values, not {type(value).__name__}")
    pairs: list[tuple[str, str | None]] = []
    for key, item in value.items():
        if not isinstance(key, str):
            raise TypeError(f"extra_query: a parameter name must be a str, not {type(key).__name__}")
        if item is None or _omitted(item):
            pairs.append((key, None))
        else:
            pairs.extend(_flatten(key, item, "extra_query", allow_lists=True))
    return tuple(pairs)


def _flatten(key: str, value: object, option: str, *, allow_lists: bool) -> list[tuple[str, str]]:
    """``value`` under ``key`` as the official SDK's query string writes it (nested mappings in
    brackets, lists as repeated keys, booleans as true/false, None left out)."""
    if value is None or _omitted(value):
        return []
    if isinstance(value, bool):
        return [(key, "true" if value else "false")]
    if isinstance(value, (str, int, float)):
        return [(key, str(value))]
    if isinstance(value, Mapping):
        return [
            pair
            for sub, item in value.items()
            for pair in _flatten(f"{key}[{sub}]", item, option, allow_lists=allow_lists)
        ]
    if allow_lists and isinstance(value, (list, tuple)):
        return [pair for item in value for pair in _flatten(key, item, option, allow_lists=False)]
    raise TypeError(
        f"{option}: {key!r} must be a str, number, bool, None or a mapping of those, not {type(value).__name__}"
    )


def _body_mapping(value: object) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise TypeError(f"extra_body must be a mapping with str keys, not {type(value).__name__}")
    try:
        orjson.dumps({k: v for k, v in value.items() if not _omitted(v)})
    except TypeError as exc:
        raise TypeError(f"extra_body must hold JSON values: {exc}") from None
    return dict(value)
