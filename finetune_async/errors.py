"""The exception hierarchy.

Every exception the package raises on purpose derives from :class:`FineTuneError`.
HTTP answers outside 2xx become :class:`APIStatusError` subclasses chosen by status code;
failures to get an answer at all become :class:`APIConnectionError`.

No exception ever holds the API key: the transport builds them from the response body,
the status and the request id only, and the request method and path (never headers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .datasets import Problem
    from .models import FineTuningJob, FineTuningJobError

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "DatasetError",
    "FineTuneError",
    "InternalServerError",
    "JobCancelledError",
    "JobFailedError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProviderParameterError",
    "RateLimitError",
    "RedirectError",
    "RequestValidationError",
    "ResponseTooLargeError",
    "TrainingNotAvailableError",
    "UnprocessableEntityError",
    "UnsupportedByProviderError",
    "WaitTimeoutError",
    "status_error",
]


class FineTuneError(Exception):
    """Root of every error this package raises on purpose."""


class UnsupportedByProviderError(FineTuneError):
    """The client's provider cannot do this call (or this part of it); nothing was sent.

    ``provider`` is the provider's name (``"azure"``), ``operation`` the call
    (``"jobs.pause"``, ``"uploads.create"``), ``reason`` what it lacks. Which calls a provider
    can do: ``client.provider.capabilities``.
    """

    def __init__(self, provider: str, operation: str, reason: str) -> None:
        self.provider = provider
        self.operation = operation
        self.reason = reason
        super().__init__(f"{provider} cannot do {operation}: {reason}")


class ProviderParameterError(FineTuneError, ValueError):
    """A parameter the client's provider would refuse (a value out of its range, a key it does
    not take, such as OpenAI's ``learning_rate_multiplier`` on Nebius); nothing was sent.

    A :class:`ValueError` too. ``provider`` is the provider's name, ``param`` the field as the
    API names it (``"method.supervised.hyperparameters.batch_size"``), ``reason`` what is wrong.
    """

    def __init__(self, provider: str, param: str, reason: str) -> None:
        self.provider = provider
        self.param = param
        self.reason = reason
        super().__init__(f"{provider}: {param} {reason}")


class APIError(FineTuneError):
    """A request to the API did not give a usable answer.

    ``method`` and ``url`` name the request (the URL never carries credentials).
    """

    def __init__(self, message: str, *, method: str | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.url = url


class APIConnectionError(APIError):
    """No HTTP answer was received: DNS, refused or reset connection, TLS, or a dropped response.

    ``maybe_sent`` is true when the request may have reached the server before the failure
    (the server could have acted on it); false when it provably never left this process.
    """

    def __init__(
        self,
        message: str = "Connection error.",
        *,
        method: str | None = None,
        url: str | None = None,
        maybe_sent: bool = True,
    ) -> None:
        super().__init__(message, method=method, url=url)
        self.maybe_sent = maybe_sent


class APITimeoutError(APIConnectionError):
    """The request timed out (connect, read or total deadline)."""

    def __init__(
        self,
        message: str = "Request timed out.",
        *,
        method: str | None = None,
        url: str | None = None,
        maybe_sent: bool = True,
    ) -> None:
        super().__init__(message, method=method, url=url, maybe_sent=maybe_sent)


class APIStatusError(APIError):
    """The API answered with a non-2xx status.

    Attributes: ``status_code``, ``request_id`` (the ``x-request-id`` header; Azure's
    ``apim-request-id`` when that is absent), and from the API's error body ``code``,
    ``param``, ``type`` and ``body`` (the decoded JSON, or the text); ``inner_error`` is Azure's
    ``error.inner_error`` (its own code and details), ``None`` elsewhere.
    """

    #: Azure's ``error.inner_error`` (``None`` when the answer had none).
    inner_error: object = None

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        request_id: str | None = None,
        body: object = None,
        code: str | None = None,
        param: str | None = None,
        type: str | None = None,
        headers: Mapping[str, str] | None = None,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, method=method, url=url)
        self.status_code = status_code
        self.request_id = request_id
        self.body = body
        self.code = code
        self.param = param
        self.type = type
        # Response headers only: they never carry the request's credentials.
        self.headers: Mapping[str, str] = headers or {}

    def __str__(self) -> str:
        parts = [f"Error code: {self.status_code} - {self.message}"]
        if self.code:
            parts.append(f"(code: {self.code})")
        if self.param:
            parts.append(f"(param: {self.param})")
        if self.request_id:
            parts.append(f"(request id: {self.request_id})")
        return " ".join(parts)


class RedirectError(APIStatusError):
    """The API answered a redirect (301, 302, 303, 307 or 308) that the SDK does not follow.

    The transport follows a redirect itself, and only within the base URL's origin (same scheme,
    host and port), at most five hops: a 307 or 308 is sent again with the same method and body,
    a 301, 302 or 303 only when the request was a GET or HEAD (a create is never turned into a
    GET). Everything else raises this error, before anything is sent to the Location: a redirect
    to another origin (where the credentials must not go), a 301/302/303 of any other method, a
    307/308 of an upload whose body cannot be sent again (a file object; paths and bytes can),
    a loop, a sixth hop, or a Location that is missing, malformed or carries credentials.

    ``status_code`` is the 3xx status and ``location`` the URL it pointed to, without userinfo,
    query or fragment (``None`` when missing or unusable). Never retried: a redirect is an answer.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        location: str | None = None,
        request_id: str | None = None,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        # No response headers are kept: the raw Location may carry what ``location`` strips.
        super().__init__(message, status_code=status_code, request_id=request_id, method=method, url=url)
        self.location = location


class ResponseTooLargeError(APIError):
    """An answer's body, once decompressed, passed the client's size cap; reading stopped there.

    Caps (per client, ``None`` for none): ``AsyncClient(max_response_bytes=...)`` for every JSON
    answer (64 MiB by default) and ``max_file_bytes=...`` for ``files.content`` (1 GiB by default).
    ``limit`` is the cap that was passed and ``method``/``url`` name the request. An error answer
    (4xx, 5xx) with an oversized body raises its status error instead, without the body.
    Not retried: the same request would get the same answer.
    """

    def __init__(self, message: str, *, limit: int, method: str | None = None, url: str | None = None) -> None:
        super().__init__(message, method=method, url=url)
        self.limit = limit


class BadRequestError(APIStatusError):
    """400: the request was malformed or refused as invalid."""


class AuthenticationError(APIStatusError):
    """401: the API key or token is missing, wrong or revoked."""


class PermissionDeniedError(APIStatusError):
    """403: the credentials are valid but not allowed to do this."""


class TrainingNotAvailableError(PermissionDeniedError):
    """403 with code ``training_not_available``: the platform refuses new fine-tuning jobs.

    OpenAI is winding down self-serve fine-tuning on its own platform; Azure OpenAI serves
    the same fine-tuning API (see :meth:`finetune_async.AsyncClient.azure`).
    """

    def __str__(self) -> str:
        base = super().__str__()
        return (
            f"{base}. This platform no longer accepts new fine-tuning jobs for this organization. "
            "The same fine-tuning API still runs on Azure OpenAI: "
            "use finetune_async.AsyncClient.azure(endpoint=..., api_version=...)."
        )


class NotFoundError(APIStatusError):
    """404: no such object (or not visible to these credentials)."""


class ConflictError(APIStatusError):
    """409: the object changed underneath the request."""


class UnprocessableEntityError(APIStatusError):
    """422: the request was well-formed but could not be processed."""


class RequestValidationError(BadRequestError, UnprocessableEntityError):
    """422 from a FastAPI service (Nebius) whose schema refused the request:
    ``{"detail": [{"loc": [...], "msg": ..., "type": ...}]}``.

    A :class:`BadRequestError` (the same mistake other providers answer 400) and an
    :class:`UnprocessableEntityError` (its status). ``param`` is the first failing field,
    dotted, without FastAPI's ``body``/``query`` prefix (``"hyperparameters.batch_size"``);
    ``errors`` every entry of ``detail`` as the server sent it.
    """

    #: Every ``detail`` entry (``loc``, ``msg``, ``type``, ...), as answered.
    errors: tuple[Any, ...] = ()


class RateLimitError(APIStatusError):
    """429: too many requests or tokens; retried by the transport until retries run out."""


class InternalServerError(APIStatusError):
    """>= 500: the server failed; retried by the transport until retries run out."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error(
    status_code: int,
    body: object,
    *,
    request_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    method: str | None = None,
    url: str | None = None,
) -> APIStatusError:
    """Build the right :class:`APIStatusError` subclass for a non-2xx answer.

    ``body`` is the decoded JSON body (the API's ``{"error": {...}}`` shape) or the raw text.
    """
    message: str | None = None
    code = param = type_ = None
    err: Any = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(err, Mapping):
        message = _opt_str(err.get("message"))
        code = _opt_str(err.get("code"))
        param = _opt_str(err.get("param"))
        type_ = _opt_str(err.get("type"))
    elif isinstance(body, str) and body.strip():
        message = body.strip()[:500]
    if not message:
        message = f"HTTP {status_code}"
    cls: type[APIStatusError]
    if status_code == 403 and code == "training_not_available":
        cls = TrainingNotAvailableError
    elif status_code >= 500:
        cls = InternalServerError
    else:
        cls = _BY_STATUS.get(status_code, APIStatusError)
    return cls(
        message,
        status_code=status_code,
        request_id=request_id,
        body=body,
        code=code,
        param=param,
        type=type_,
        headers=headers,
        method=method,
        url=url,
    )


def _opt_str(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


class _JobError(FineTuneError):
    def __init__(self, job: FineTuningJob, message: str) -> None:
        super().__init__(message)
        self.job = job

    @property
    def error(self) -> FineTuningJobError | None:
        """The job's ``error`` object (code, message, param), if the API gave one."""
        return self.job.error


class JobFailedError(_JobError):
    """The awaited fine-tuning job ended ``failed``; ``.job`` and ``.error`` say why."""

    def __init__(self, job: FineTuningJob) -> None:
        err = job.error
        detail = f": {err.message} (code: {err.code}, param: {err.param})" if err is not None else ""
        super().__init__(job, f"Fine-tuning job {job.id} failed{detail}")


class JobCancelledError(_JobError):
    """The awaited fine-tuning job ended ``cancelled``; ``.job`` is its final state."""

    def __init__(self, job: FineTuningJob) -> None:
        super().__init__(job, f"Fine-tuning job {job.id} was cancelled")


class WaitTimeoutError(FineTuneError, TimeoutError):
    """A wait reached its deadline before what it waited on ended; nothing was cancelled.

    ``statuses`` maps each id that had not ended to the last status seen (``None``: not seen
    yet); ``waited`` is the seconds waited and ``timeout`` the deadline given. ``job_id`` and
    ``status`` are those of the first job not ended (``job_id`` is ``None`` for a file wait).
    A :class:`TimeoutError`, so ``except TimeoutError`` still catches it.
    """

    #: How many ids the message names before "and N more".
    SHOWN = 5

    def __init__(self, statuses: Mapping[str, str | None], *, waited: float, timeout: float, kind: str = "job") -> None:
        self.statuses = dict(statuses)
        self.waited = waited
        self.timeout = timeout
        self.kind = kind
        super().__init__(self._message())

    @property
    def job_id(self) -> str | None:
        """The first job that had not ended (``None`` for a file wait)."""
        return next(iter(self.statuses), None) if self.kind == "job" else None

    @property
    def status(self) -> str | None:
        """The last status seen of the first id not ended (``None``: not seen yet)."""
        return next(iter(self.statuses.values()), None)

    def _message(self) -> str:
        def seen(status: str | None) -> str:
            return status if status is not None else "not seen yet"

        after = f"after {self.waited:.1f} s (timeout {self.timeout:g} s)"
        if self.kind == "file":
            (file_id, status), *_ = self.statuses.items()
            return f"File {file_id} was still being processed {after}; last status: {seen(status)}."
        if len(self.statuses) == 1:
            (job_id, status), *_ = self.statuses.items()
            return (
                f"Fine-tuning job {job_id} has not ended {after}; last status: {seen(status)}. "
                f"It keeps running: wait again, or cancel it with client.fine_tuning.jobs.cancel({job_id!r})."
            )
        items = list(self.statuses.items())
        named = ", ".join(f"{job_id} ({seen(status)})" for job_id, status in items[: self.SHOWN])
        more = f" and {len(items) - self.SHOWN} more" if len(items) > self.SHOWN else ""
        return (
            f"{len(items)} fine-tuning jobs have not ended {after}: {named}{more}. "
            "They keep running: wait again, or cancel them."
        )


class DatasetError(FineTuneError):
    """A dataset failed validation; ``.problems`` holds every problem with its line number."""

    def __init__(self, problems: list[Problem], *, path: str | None = None, total: int | None = None) -> None:
        self.problems = problems
        self.path = path
        #: Every problem found, including those beyond the report's cap.
        self.total = max(total or 0, len(problems))
        shown = "; ".join(f"line {p.line}: {p.message}" if p.line is not None else p.message for p in problems[:5])
        more = f" (and {self.total - 5} more)" if self.total > 5 else ""
        where = f"{path}: " if path else ""
        super().__init__(f"{where}{self.total} problem(s): {shown}{more}")
