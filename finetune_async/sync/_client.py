"""``Client``: the synchronous client, a facade over :class:`~finetune_async.AsyncClient`."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

from .._options import Timeout
from ..client import AsyncClient
from ..providers import Provider
from ._loop import LoopThread, stop_when_dropped
from ._resources import Files, FineTuning, Models, Uploads

__all__ = ["Client"]

P = ParamSpec("P")
C = TypeVar("C", bound="Client")


def _takes_the_parameters_of(
    function: Callable[Concatenate[Any, P], None],
) -> Callable[[Callable[..., None]], Callable[Concatenate[Any, P], None]]:
    """Give the decorated ``__init__`` the parameters (and type) of ``function``'s."""

    def decorate(init: Callable[..., None]) -> Callable[Concatenate[Any, P], None]:
        init.__signature__ = _signature(function)  # type: ignore[attr-defined]
        return init

    return decorate


def _signature(function: Callable[..., Any]) -> Any:
    import inspect

    return inspect.signature(function)


class _Constructor(Generic[P]):
    """``Client.azure(...)`` and the other provider constructors: the async client's, synchronous."""

    def __init__(self, make: Callable[P, AsyncClient]) -> None:
        self._make = make
        self.__doc__ = make.__doc__

    def __get__(self, obj: object, owner: type[C]) -> Callable[P, C]:
        make = self._make

        def construct(*args: P.args, **kwargs: P.kwargs) -> C:
            return owner._wrap(make(*args, **kwargs))

        construct.__doc__ = self.__doc__
        construct.__signature__ = _signature(make).replace(return_annotation=owner.__name__)  # type: ignore[attr-defined]
        return construct


class Client:
    """A synchronous client: :class:`~finetune_async.AsyncClient`'s resources and names, no ``await``.

    ``with ft.Client() as client: job = client.fine_tuning.jobs.create(...)``. The constructor
    takes the async client's arguments (and ``Client.azure``, ``.nebius``, ``.together``,
    ``.fireworks`` its provider constructors'), with the same defaults and errors. Every call
    runs the async core on a private event loop in a daemon thread the client starts, so it
    works where an event loop is already running (Jupyter, IPython, an async framework's
    thread) and from many threads at once. ``list…`` calls return their first page
    (:class:`~finetune_async.sync.SyncPage`; ``for item in page`` walks every page);
    ``fine_tuning.jobs.wait``, ``.stream_events``, ``.stream_checkpoints`` block or iterate.
    Ctrl-C during a call raises :class:`KeyboardInterrupt` promptly and stops the call's
    work on the loop (a job being waited on keeps running on the server).

    ``close()`` (or leaving the ``with`` block) closes the connections and stops the loop's
    thread; a client that is garbage-collected, or still open at interpreter exit, is closed
    the same way, quietly. Calls on a closed client raise :class:`RuntimeError`.
    """

    files: Files
    uploads: Uploads
    fine_tuning: FineTuning
    models: Models

    @_takes_the_parameters_of(AsyncClient.__init__)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._setup(AsyncClient(*args, **kwargs), None)

    azure = _Constructor(AsyncClient.azure)
    nebius = _Constructor(AsyncClient.nebius)
    together = _Constructor(AsyncClient.together)
    fireworks = _Constructor(AsyncClient.fireworks)

    @classmethod
    def _wrap(cls: type[C], inner: AsyncClient) -> C:
        client = object.__new__(cls)
        client._setup(inner, None)
        return client

    def _setup(self, inner: AsyncClient, owner: Client | None) -> None:
        self._async = inner
        # A with_options() view keeps its owner alive: the loop is the owner's.
        self._owner = owner
        if owner is None:
            # Started only once the async client is built: a missing key raises with no thread started.
            self._loop = LoopThread()
            self._stop = stop_when_dropped(self, self._loop, inner.close)
        else:
            self._loop = owner._loop
            self._stop = _nothing
        self.files = Files(inner.files, self._loop)
        self.uploads = Uploads(inner.uploads, self._loop)
        self.fine_tuning = FineTuning(inner.fine_tuning, self._loop)
        self.models = Models(inner.models, self._loop)

    def with_options(self, *, max_retries: int | None = None, timeout: float | Timeout | Any | None = ...) -> Client:
        """A view of this client with other retry or timeout settings, sharing its connections
        and loop (:meth:`finetune_async.AsyncClient.with_options`); closing this client closes it."""
        view = object.__new__(type(self))
        view._setup(self._async.with_options(max_retries=max_retries, timeout=timeout), self._owner or self)
        return view

    @property
    def with_raw_response(self) -> Any:
        """Every API call answering a :class:`~finetune_async.RawResponse`:
        ``client.with_raw_response.fine_tuning.jobs.retrieve(job_id)``."""
        from ._responses import View

        return View(self._async.with_raw_response, self._loop, "raw")

    @property
    def with_streaming_response(self) -> Any:
        """Every API call as a ``with`` block giving a streamed answer:
        ``with client.with_streaming_response.files.content(file_id) as response``."""
        from ._responses import View

        return View(self._async.with_streaming_response, self._loop, "streaming")

    @property
    def base_url(self) -> str:
        """The API's base URL."""
        return self._async.base_url

    @property
    def provider(self) -> Provider:
        """The provider this client talks to: ``name``, ``base_url``, ``capabilities``."""
        return self._async.provider

    @property
    def max_retries(self) -> int:
        """How many times a failed request is tried again."""
        return self._async.max_retries

    @property
    def timeout(self) -> Timeout:
        """The request deadlines."""
        return self._async.timeout

    @property
    def is_closed(self) -> bool:
        """True once :meth:`close` was called (on this client, or on the one it is a view of)."""
        return self._loop._stopped

    def close(self) -> None:
        """Close the connections and stop the client's loop thread. Idempotent; on a view
        from :meth:`with_options` it does nothing (the client it came from owns them)."""
        self._stop()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return "Client" + repr(self._async).removeprefix("AsyncClient")


def _nothing() -> None:
    return None
