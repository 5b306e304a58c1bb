"""The transport over real loopback HTTP: retries, Retry-After, errors, request ids, timeouts."""

from __future__ import annotations

import asyncio
import email.utils
import time

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

import finetune_async as ft
from finetune_async._retry import RetryPolicy, parse_retry_after

from .scripted import error_response, job_json, json_response, scripted_server

JOB_PATH = "/v1/fine_tuning/jobs/ftjob-abc"


def make_client(base_url: str, **kwargs: object) -> ft.AsyncClient:
    return ft.AsyncClient(api_key="sk-test-transport", base_url=base_url, **kwargs)  # type: ignore[arg-type]


def sequence(*answers: web.Response) -> object:
    """A handler answering with ``answers`` in turn, then repeating the last."""
    queue = list(answers)

    async def handler(request: web.Request) -> web.Response:
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        # A Response object can be sent once: answer with a fresh copy.
        return web.Response(status=answer.status, body=answer.body, headers=answer.headers)

    return handler


# --- Retry-After parsing: pure, property-tested -------------------------------------------


def test_retry_after_ms_wins_over_seconds() -> None:
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    now = time.time()
    date = email.utils.formatdate(now + 5, usegmt=True)
    waited = parse_retry_after({"retry-after": date}, now=now)
    assert waited is not None
    assert 3.5 <= waited <= 5.0
    past = email.utils.formatdate(now - 50, usegmt=True)
    assert parse_retry_after({"retry-after": past}, now=now) == 0.0


@pytest.mark.parametrize("value", ["", "soon", "-1", "nan", "Mon, 99 Foo 2020"])
def test_retry_after_garbage_is_ignored(value: str) -> None:
    assert parse_retry_after({"retry-after": value}) is None


@given(st.dictionaries(st.sampled_from(["retry-after", "retry-after-ms", "Retry-After", "x"]), st.text()))
def test_retry_after_never_raises_and_is_never_negative(headers: dict[str, str]) -> None:
    value = parse_retry_after(headers)
    assert value is None or value >= 0


@pytest.mark.real_backoff
def test_policy_honours_hint_up_to_cap_and_backs_off_exponentially() -> None:
    policy = RetryPolicy(max_retries=5)
    hinted = ft.RateLimitError("x", status_code=429, headers={"retry-after": "7"})
    assert policy.delay(0, hinted) == 7.0
    too_long = ft.RateLimitError("x", status_code=429, headers={"retry-after": "600"})
    assert policy.delay(0, too_long) <= 0.5
    for n in range(8):
        assert 0 < policy.backoff(n) <= min(8.0, 0.5 * 2**n)
    assert policy.backoff(20) >= 4.0  # capped at 8 s, equal jitter keeps it above half


def test_instant_backoff_makes_every_wait_zero() -> None:
    policy = RetryPolicy(max_retries=5)
    hinted = ft.RateLimitError("x", status_code=429, headers={"retry-after": "7"})
    with ft.instant_backoff():
        assert policy.delay(0, hinted) == 0.0
        assert policy.backoff(10) == 0.0
    with ft.instant_backoff(False):
        assert policy.delay(0, hinted) == 7.0
        assert policy.backoff(10) >= 4.0


# --- Retries over HTTP ---------------------------------------------------------------------


@pytest.mark.real_backoff
@pytest.mark.parametrize(
    "headers",
    [{"retry-after-ms": "30"}, {"retry-after": "0"}, {"retry-after": email.utils.formatdate(usegmt=True)}],
)
async def test_each_retry_after_form_is_retried(headers: dict[str, str]) -> None:
    handler = sequence(error_response(429, "slow down", headers=headers), json_response(job_json()))
    async with scripted_server(handler) as server, make_client(server.base_url) as client:  # type: ignore[arg-type]
        started = time.monotonic()
        job = await client.fine_tuning.jobs.retrieve("ftjob-abc")
        elapsed = time.monotonic() - started
    assert job.id == "ftjob-abc"
    assert server.count("GET", JOB_PATH) == 2
    # The server's hint replaced the default backoff (0.25-0.5 s).
    assert elapsed < 0.25


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
async def test_retryable_statuses_are_retried(status: int) -> None:
    handler = sequence(error_response(status, headers={"retry-after-ms": "1"}), json_response(job_json()))
    async with scripted_server(handler) as server, make_client(server.base_url) as client:  # type: ignore[arg-type]
        await client.fine_tuning.jobs.retrieve("ftjob-abc")
    assert server.count("GET", JOB_PATH) == 2


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, ft.BadRequestError),
        (401, ft.AuthenticationError),
        (403, ft.PermissionDeniedError),
        (404, ft.NotFoundError),
        (422, ft.UnprocessableEntityError),
    ],
)
async def test_client_errors_are_not_retried(status: int, error: type[ft.APIStatusError]) -> None:
    handler = sequence(error_response(status, "bad thing", code="some_code"))
    async with scripted_server(handler) as server, make_client(server.base_url) as client:  # type: ignore[arg-type]
        with pytest.raises(error) as caught:
            await client.fine_tuning.jobs.retrieve("ftjob-abc")
    assert server.count("GET", JOB_PATH) == 1
    assert caught.value.status_code == status
    assert caught.value.code == "some_code"
    assert caught.value.message == "bad thing"
    assert caught.value.request_id == "req_err"


async def test_x_should_retry_false_stops_a_retryable_status() -> None:
    handler = sequence(error_response(503, headers={"x-should-retry": "false"}))
    async with scripted_server(handler) as server, make_client(server.base_url) as client:  # type: ignore[arg-type]
        with pytest.raises(ft.InternalServerError):
            await client.fine_tuning.jobs.retrieve("ftjob-abc")
    assert server.count("GET", JOB_PATH) == 1


async def test_x_should_retry_true_retries_a_client_error() -> None:
    handler = sequence(
        error_response(425, headers={"x-should-retry": "true", "retry-after-ms": "1"}), json_response(job_json())
    )
    async with scripted_server(handler) as server, make_client(server.base_url) as client:  # type: ignore[arg-type]
        await client.fine_tuning.jobs.retrieve("ftjob-abc")
    assert server.count("GET", JOB_PATH) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_x_should_retry_true_never_retries_a_mistaken_request(status: int) -> None:
    """The README's rule: these five mean the request itself is wrong; the header does not change that."""
    handler = sequence(
        error_response(status, headers={"x-should-retry": "true", "retry-after-ms": "1"}), json_response(job_json())
    )
    async with scripted_server(handler) as server, make_client(server.base_url) as client:  # type: ignore[arg-type]
        with pytest.raises(ft.APIStatusError):
            await client.fine_tuning.jobs.retrieve("ftjob-abc")
    assert server.count("GET", JOB_PATH) == 1


async def test_gives_up_after_max_retries_with_the_last_error() -> None:
    answers = [
        error_response(500, f"boom {i}", headers={"retry-after-ms": "1"}, request_id=f"req_{i}") for i in range(5)
    ]
    async with (
        scripted_server(sequence(*answers)) as server,
        make_client(  # type: ignore[arg-type]
            server.base_url, max_retries=3
        ) as client,
    ):
        with pytest.raises(ft.InternalServerError) as caught:
            await client.fine_tuning.jobs.retrieve("ftjob-abc")
    assert server.count("GET", JOB_PATH) == 4
    assert caught.value.request_id == "req_3"
    assert "boom 3" in str(caught.value)


async def test_max_retries_per_call_with_options() -> None:
    handler = sequence(error_response(500, headers={"retry-after-ms": "1"}))
    async with scripted_server(handler) as server, make_client(server.base_url, max_retries=4) as client:  # type: ignore[arg-type]
        with pytest.raises(ft.InternalServerError):
            await client.with_options(max_retries=0).fine_tuning.jobs.retrieve("ftjob-abc")
        assert server.count("GET", JOB_PATH) == 1
        with pytest.raises(ft.InternalServerError):
            await client.with_options(max_retries=1).fine_tuning.jobs.retrieve("ftjob-abc")
        assert server.count("GET", JOB_PATH) == 3
        # The view shares the session, and closing the view does not close it.
        view = client.with_options(max_retries=0)
        await view.close()
        assert not client.is_closed


async def test_connection_refused_is_a_connection_error_not_sent() -> None:
    async with scripted_server(sequence(json_response({}))) as server:
        base_url = server.base_url
    # The server is gone: nothing listens on that port any more.
    async with make_client(base_url, max_retries=1) as client:
        with pytest.raises(ft.APIConnectionError) as caught:
            await client.fine_tuning.jobs.retrieve("ftjob-abc")
    assert caught.value.maybe_sent is False
    assert not isinstance(caught.value, ft.APIStatusError)


async def test_read_timeout_raises_api_timeout_error() -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return json_response(job_json())

    async with (
        scripted_server(slow) as server,
        make_client(  # type: ignore[arg-type]
            server.base_url, timeout=ft.Timeout(total=0.2), max_retries=1
        ) as client,
    ):
        with pytest.raises(ft.APITimeoutError) as caught:
            await client.fine_tuning.jobs.retrieve("ftjob-abc")
    assert caught.value.maybe_sent is True
    assert server.count("GET", JOB_PATH) == 2


async def test_training_not_available_has_its_own_error() -> None:
    handler = sequence(error_response(403, "Fine-tuning is no longer available", code="training_not_available"))
    async with scripted_server(handler) as server, make_client(server.base_url) as client:  # type: ignore[arg-type]
        with pytest.raises(ft.TrainingNotAvailableError) as caught:
            await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file="file-x")
    assert isinstance(caught.value, ft.PermissionDeniedError)
    assert "Azure" in str(caught.value)
    assert server.count("POST", "/v1/fine_tuning/jobs") == 1


async def test_request_id_is_kept_on_models_and_pages() -> None:
    async def handler(request: web.Request) -> web.Response:
        if request.path.endswith("/jobs"):
            return json_response({"object": "list", "data": [job_json()], "has_more": False}, request_id="req_page")
        return json_response(job_json(), request_id="req_model")

    async with scripted_server(handler) as server, make_client(server.base_url) as client:  # type: ignore[arg-type]
        job = await client.fine_tuning.jobs.retrieve("ftjob-abc")
        page = await client.fine_tuning.jobs.list()
    assert job.request_id == "req_model"
    assert page.request_id == "req_page"


async def test_headers_auth_user_agent_org_project() -> None:
    async with (
        scripted_server(sequence(json_response(job_json()))) as server,
        ft.AsyncClient(
            api_key="sk-test-headers", base_url=server.base_url, organization="org-1", project="proj-1"
        ) as client,
    ):
        await client.fine_tuning.jobs.retrieve("ftjob-abc")
    headers = server.seen[0].headers
    assert headers["Authorization"] == "Bearer sk-test-headers"
    assert headers["OpenAI-Organization"] == "org-1"
    assert headers["OpenAI-Project"] == "proj-1"
    assert headers["User-Agent"].startswith(f"finetune-async/{ft.__version__}")


async def test_environment_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    async with scripted_server(sequence(json_response(job_json()))) as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_ORG_ID", "org-env")
        monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-env")
        async with ft.AsyncClient() as client:
            await client.fine_tuning.jobs.retrieve("ftjob-abc")
    headers = server.seen[0].headers
    assert headers["Authorization"] == "Bearer sk-from-env"
    assert headers["OpenAI-Organization"] == "org-env"
    assert headers["OpenAI-Project"] == "proj-env"


def test_missing_api_key_is_a_clear_error_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ft.FineTuneError, match="OPENAI_API_KEY"):
        ft.AsyncClient()


async def test_closed_client_refuses_requests_and_close_is_idempotent() -> None:
    async with scripted_server(sequence(json_response(job_json()))) as server:
        client = make_client(server.base_url)
        await client.fine_tuning.jobs.retrieve("ftjob-abc")
        await client.close()
        await client.close()
        assert client.is_closed
        with pytest.raises(RuntimeError, match="closed"):
            await client.fine_tuning.jobs.retrieve("ftjob-abc")


async def test_session_is_opened_lazily() -> None:
    client = make_client("http://127.0.0.1:9/v1")
    assert client._transport._session is None
    await client.close()


async def test_with_options_timeout_applies_on_the_shared_session() -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return json_response(job_json())

    async with scripted_server(slow) as server, make_client(server.base_url, max_retries=0) as client:
        await client.fine_tuning.jobs.retrieve("ftjob-abc")  # opens the session with the long default
        with pytest.raises(ft.APITimeoutError):
            await client.with_options(timeout=0.2).fine_tuning.jobs.retrieve("ftjob-abc")
        assert client.with_options(timeout=ft.Timeout(total=5, connect=1)).timeout.connect == 1
