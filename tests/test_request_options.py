"""Per-call options (issue 14): ``timeout=``, ``extra_headers=``, ``extra_query=``, ``extra_body=``
on every resource method, with the official SDK's meaning.

The walk below finds every public method of every resource by inspection, so a method added
later without the options fails here; each is then called against a loopback server of this
file's own, which records what came off the wire.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import attrs
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

import finetune_async as ft
from finetune_async.resources._base import Resource

from .scripted import Seen, error_response, job_json, json_response, scripted_server

OPTIONS = ("timeout", "extra_headers", "extra_query", "extra_body")
# Built at run time so that nothing shaped like a real key is committed.
SECRET = "-".join(["sk", "extra", "SECRETSECRETSECRET0123456789"])
CKPT = "ft:gpt-4o-mini-2024-07-18:org::abc123:ckpt-step-10"
GRADER = {"type": "string_check", "name": "g", "input": "{{sample.output_text}}", "reference": "x", "operation": "eq"}

Call = Callable[[ft.AsyncClient, dict[str, Any]], Awaitable[object]]


async def _first_page(paginator: Any) -> object:
    return await paginator


@attrs.frozen
class Recipe:
    """How to call one endpoint method, and the body it sends (``json``, ``form`` or none)."""

    call: Call
    body: str | None


#: Every endpoint method, by its dotted name under the client.
RECIPES: dict[str, Recipe] = {
    "files.create": Recipe(lambda c, o: c.files.create(file=("w.jsonl", b"{}\n"), **o), "form"),
    "files.retrieve": Recipe(lambda c, o: c.files.retrieve("file-abc", **o), None),
    "files.list": Recipe(lambda c, o: _first_page(c.files.list(**o)), None),
    "files.delete": Recipe(lambda c, o: c.files.delete("file-abc", **o), "json"),
    "files.content": Recipe(lambda c, o: c.files.content("file-abc", **o), None),
    "uploads.create": Recipe(
        lambda c, o: c.uploads.create(
            bytes=1, filename="u.jsonl", mime_type="application/jsonl", purpose="fine-tune", **o
        ),
        "json",
    ),
    "uploads.complete": Recipe(lambda c, o: c.uploads.complete("upload_abc", part_ids=["part_1"], **o), "json"),
    "uploads.cancel": Recipe(lambda c, o: c.uploads.cancel("upload_abc", **o), "json"),
    "uploads.parts.create": Recipe(lambda c, o: c.uploads.parts.create("upload_abc", data=b"x", **o), "form"),
    "fine_tuning.jobs.create": Recipe(
        lambda c, o: c.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file="file-abc", **o),
        "json",
    ),
    "fine_tuning.jobs.retrieve": Recipe(lambda c, o: c.fine_tuning.jobs.retrieve("ftjob-abc", **o), None),
    "fine_tuning.jobs.list": Recipe(lambda c, o: _first_page(c.fine_tuning.jobs.list(**o)), None),
    "fine_tuning.jobs.cancel": Recipe(lambda c, o: c.fine_tuning.jobs.cancel("ftjob-abc", **o), "json"),
    "fine_tuning.jobs.pause": Recipe(lambda c, o: c.fine_tuning.jobs.pause("ftjob-abc", **o), "json"),
    "fine_tuning.jobs.resume": Recipe(lambda c, o: c.fine_tuning.jobs.resume("ftjob-abc", **o), "json"),
    "fine_tuning.jobs.list_events": Recipe(
        lambda c, o: _first_page(c.fine_tuning.jobs.list_events("ftjob-abc", **o)), None
    ),
    "fine_tuning.jobs.checkpoints.list": Recipe(
        lambda c, o: _first_page(c.fine_tuning.jobs.checkpoints.list("ftjob-abc", **o)), None
    ),
    "fine_tuning.checkpoints.permissions.create": Recipe(
        lambda c, o: c.fine_tuning.checkpoints.permissions.create(CKPT, project_ids=["proj_1"], **o), "json"
    ),
    "fine_tuning.checkpoints.permissions.retrieve": Recipe(
        lambda c, o: c.fine_tuning.checkpoints.permissions.retrieve(CKPT, **o), None
    ),
    "fine_tuning.checkpoints.permissions.delete": Recipe(
        lambda c, o: c.fine_tuning.checkpoints.permissions.delete(CKPT, "cp_abc", **o), "json"
    ),
    "fine_tuning.alpha.graders.run": Recipe(
        lambda c, o: c.fine_tuning.alpha.graders.run(grader=GRADER, model_sample="x", **o), "json"
    ),
    "fine_tuning.alpha.graders.validate": Recipe(
        lambda c, o: c.fine_tuning.alpha.graders.validate(grader=GRADER, **o), "json"
    ),
    "models.retrieve": Recipe(lambda c, o: c.models.retrieve("gpt-4o-mini", **o), None),
    "models.list": Recipe(lambda c, o: _first_page(c.models.list(**o)), None),
    "models.delete": Recipe(lambda c, o: c.models.delete("ft:gpt-4o-mini:org::abc", **o), "json"),
}

#: Endpoint methods only some providers have (OpenAI refuses them before sending): their
#: options are checked on Azure, with the api-version that has them (None: the v1 route).
AZURE_RECIPES: dict[str, tuple[Recipe, str | None]] = {
    "fine_tuning.jobs.delete": (
        Recipe(lambda c, o: c.fine_tuning.jobs.delete("ftjob-abc", **o), "json"),
        "2025-04-01-preview",
    ),
    "fine_tuning.jobs.checkpoints.copy": (
        Recipe(
            lambda c, o: c.fine_tuning.jobs.checkpoints.copy(
                "ftjob-abc", "ftchkpt-abc", destination_resource_id="/subscriptions/s", region="westus", **o
            ),
            "json",
        ),
        None,
    ),
    "fine_tuning.jobs.checkpoints.retrieve_copy": (
        Recipe(lambda c, o: c.fine_tuning.jobs.checkpoints.retrieve_copy("ftjob-abc", "ftchkpt-abc", **o), None),
        None,
    ),
}

#: Endpoint methods only Together has: their options are checked on a Together client.
TOGETHER_RECIPES: dict[str, Recipe] = {
    "fine_tuning.jobs.metrics": Recipe(lambda c, o: c.fine_tuning.jobs.metrics("ft-abc", **o), None),
}

#: Public resource methods that are helpers over many requests, not one endpoint: they keep
#: their own meaning of ``timeout`` (how long to wait) and take no per-call options.
HELPERS = {
    "files.wait_for_processing",
    "uploads.upload_file_chunked",
    "fine_tuning.jobs.wait",
    "fine_tuning.jobs.stream_events",
    "fine_tuning.jobs.stream_checkpoints",
}


def walk(obj: object, prefix: str = "") -> Iterator[tuple[str, Resource]]:
    """Every resource reachable from ``obj`` (a client or a resource), by dotted name."""
    names = getattr(type(obj), "__slots__", ()) if isinstance(obj, Resource) else vars(obj)
    for name in names:
        value = getattr(obj, name, None)
        if isinstance(value, Resource):
            yield prefix + name, value
            yield from walk(value, prefix + name + ".")


def public_methods() -> dict[str, Callable[..., Any]]:
    client = ft.AsyncClient(api_key="sk-test-walk", base_url="http://127.0.0.1:9/v1")
    found: dict[str, Callable[..., Any]] = {}
    for path, resource in walk(client):
        for name, _ in inspect.getmembers(type(resource), inspect.isfunction):
            if not name.startswith("_"):
                found[f"{path}.{name}"] = getattr(resource, name)
    return found


def test_the_walk_finds_every_method_and_each_is_an_endpoint_or_a_helper() -> None:
    found = set(public_methods())
    assert "fine_tuning.jobs.checkpoints.list" in found
    assert "uploads.parts.create" in found
    assert found == set(RECIPES) | set(AZURE_RECIPES) | set(TOGETHER_RECIPES) | HELPERS, (
        "a public method is neither an endpoint recipe nor a known helper"
    )


@pytest.mark.parametrize("name", sorted(RECIPES) + sorted(AZURE_RECIPES) + sorted(TOGETHER_RECIPES))
def test_every_endpoint_method_takes_the_four_options(name: str) -> None:
    parameters = inspect.signature(public_methods()[name]).parameters
    for option in OPTIONS:
        assert option in parameters, f"{name} does not take {option}="
        assert parameters[option].kind is inspect.Parameter.KEYWORD_ONLY


async def answer_404(request: web.Request) -> web.Response:
    return error_response(404, "No such thing")


def form_fields(seen: Seen) -> dict[str, str]:
    """The plain (non-file) fields of a multipart body as the server received it."""
    boundary = seen.headers["Content-Type"].split("boundary=", 1)[1].strip('"')
    fields: dict[str, str] = {}
    for chunk in seen.body.split(b"--" + boundary.encode())[1:-1]:
        head, _, value = chunk.strip(b"\r\n").partition(b"\r\n\r\n")
        if b"filename=" not in head:
            name = head.split(b'name="', 1)[1].split(b'"', 1)[0].decode()
            fields[name] = value.decode()
    return fields


async def _send_probes(client: ft.AsyncClient, recipe: Recipe) -> None:
    """``recipe``'s call with a probe in each of the four options, against a server answering 404."""
    with pytest.raises(ft.NotFoundError):
        await recipe.call(
            client,
            {
                "timeout": 10,
                "extra_headers": {"X-Probe": "header"},
                "extra_query": {"probe": "query"},
                "extra_body": {"probe": "body"},
            },
        )


@pytest.mark.parametrize("name", sorted(RECIPES))
async def test_the_four_options_reach_the_wire(name: str) -> None:
    recipe = RECIPES[name]
    async with (
        scripted_server(answer_404) as server,
        ft.AsyncClient(api_key="sk-test-wire", base_url=server.base_url, max_retries=0, timeout=30) as client,
    ):
        await _send_probes(client, recipe)
    assert len(server.seen) == 1
    _check_probe(server.seen[0], recipe)


@pytest.mark.parametrize("name", sorted(AZURE_RECIPES))
async def test_the_four_options_reach_the_wire_on_azure(name: str) -> None:
    recipe, api_version = AZURE_RECIPES[name]
    async with (
        scripted_server(answer_404, prefix="") as server,
        ft.AsyncClient.azure(
            endpoint=server.base_url, api_key="azure-key", api_version=api_version, max_retries=0, timeout=30
        ) as client,
    ):
        await _send_probes(client, recipe)
    assert len(server.seen) == 1
    _check_probe(server.seen[0], recipe)
    if "copy" in name:
        assert server.seen[0].headers["aoai-copy-ft-checkpoints"] == "preview"


def _check_probe(seen: Seen, recipe: Recipe) -> None:
    assert seen.headers["X-Probe"] == "header"
    assert seen.query["probe"] == "query"
    if recipe.body is None:
        # As the official SDK: a GET carries no body, so extra_body is not sent.
        assert seen.body == b""
    elif recipe.body == "json":
        sent = json.loads(seen.body)
        assert sent["probe"] == "body"
    else:
        assert form_fields(seen)["probe"] == "body"


async def test_an_unknown_keyword_is_a_type_error_naming_it() -> None:
    async with ft.AsyncClient(api_key="sk-test", base_url="http://127.0.0.1:9/v1") as client:
        with pytest.raises(TypeError, match="extra_header"):
            await client.files.retrieve("file-abc", extra_header={"X": "y"})  # type: ignore[call-arg]
        with pytest.raises(TypeError, match="timout"):
            client.files.list(timout=3)  # type: ignore[call-arg]


# --- timeout --------------------------------------------------------------------------------


def slow(seconds: float) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(seconds)
        return json_response(job_json())

    return handler


async def test_a_per_call_timeout_overrides_a_longer_client_timeout() -> None:
    async with (
        scripted_server(slow(1.0)) as server,
        ft.AsyncClient(api_key="sk-test", base_url=server.base_url, max_retries=0, timeout=60) as client,
    ):
        with pytest.raises(ft.APITimeoutError):
            await client.fine_tuning.jobs.retrieve("ftjob-abc", timeout=0.2)
        assert client.timeout.total == 60  # the client's own setting is untouched


async def test_a_per_call_timeout_overrides_a_shorter_client_timeout() -> None:
    async with (
        scripted_server(slow(0.4)) as server,
        ft.AsyncClient(api_key="sk-test", base_url=server.base_url, max_retries=0, timeout=0.1) as client,
    ):
        with pytest.raises(ft.APITimeoutError):
            await client.fine_tuning.jobs.retrieve("ftjob-abc")
        job = await client.fine_tuning.jobs.retrieve("ftjob-abc", timeout=ft.Timeout(total=10))
        assert job.id == "ftjob-abc"
        # None: no deadline at all, as in the official SDK.
        assert (await client.fine_tuning.jobs.retrieve("ftjob-abc", timeout=None)).id == "ftjob-abc"


async def test_a_per_call_timeout_bounds_each_attempt_not_the_retries_together() -> None:
    """The official SDK's meaning: each try gets the timeout afresh; the retries are not inside it."""
    async with (
        scripted_server(slow(1.0)) as server,
        ft.AsyncClient(api_key="sk-test", base_url=server.base_url, max_retries=2) as client,
    ):
        with pytest.raises(ft.APITimeoutError):
            await client.fine_tuning.jobs.retrieve("ftjob-abc", timeout=0.15)
    assert len(server.seen) == 3


def test_timeout_accepts_the_official_sdks_timeout_object() -> None:
    import openai

    coerced = ft.Timeout.coerce(openai.Timeout(30.0, connect=5.0))
    assert coerced == ft.Timeout(total=None, connect=5.0, read=30.0)
    with pytest.raises(TypeError, match="timeout"):
        ft.Timeout.coerce("soon")  # type: ignore[arg-type]


# --- extra_headers --------------------------------------------------------------------------


async def ok(request: web.Request) -> web.Response:
    if request.method == "GET" and request.path.endswith("/jobs"):
        return json_response({"object": "list", "data": [job_json()], "has_more": False})
    return json_response(job_json())


async def test_extra_headers_are_merged_last_and_none_or_omit_removes_one() -> None:
    import openai

    async with (
        scripted_server(ok) as server,
        ft.AsyncClient(
            api_key="sk-test-headers",
            base_url=server.base_url,
            organization="org-default",
            project="proj-default",
            default_headers={"X-Team": "a"},
        ) as client,
    ):
        await client.fine_tuning.jobs.retrieve(
            "ftjob-abc",
            extra_headers={"openai-organization": "org-call", "X-Team": "b", "User-Agent": "ported/1.0"},
        )
        await client.fine_tuning.jobs.retrieve(
            "ftjob-abc", extra_headers={"OpenAI-Project": None, "X-Team": openai.Omit()}
        )
        await client.fine_tuning.jobs.retrieve("ftjob-abc")
    first, second, third = ({k.lower(): v for k, v in seen.headers.items()} for seen in server.seen)
    assert first["openai-organization"] == "org-call"
    assert first["x-team"] == "b"
    assert first["user-agent"] == "ported/1.0"
    assert first["authorization"] == "Bearer sk-test-headers"
    assert "openai-project" not in second
    assert "x-team" not in second
    assert second["openai-organization"] == "org-default"
    # Nothing of a call's options stays behind for the next call.
    assert third["openai-project"] == "proj-default"
    assert third["x-team"] == "a"


async def test_extra_headers_can_replace_the_credential() -> None:
    async with scripted_server(ok) as server, ft.AsyncClient(api_key="sk-test-a", base_url=server.base_url) as client:
        await client.fine_tuning.jobs.retrieve("ftjob-abc", extra_headers={"Authorization": "Bearer sk-test-b"})
    assert server.seen[0].headers["Authorization"] == "Bearer sk-test-b"


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({"X-Bad": "one\r\nX-Injected: two"}, ValueError),
        ({"Bad Name": "x"}, ValueError),
        ({"X-Number": 5}, TypeError),
        ({7: "x"}, TypeError),
    ],
)
async def test_malformed_extra_headers_are_refused_before_sending(headers: dict[Any, Any], error: type) -> None:
    async with scripted_server(ok) as server, ft.AsyncClient(api_key="sk-test", base_url=server.base_url) as client:
        with pytest.raises(error, match="extra_headers") as caught:
            await client.fine_tuning.jobs.retrieve("ftjob-abc", extra_headers=headers)
    assert server.seen == []
    assert "two" not in str(caught.value)  # a header's value is never repeated in the message


# --- extra_query ----------------------------------------------------------------------------


async def test_extra_query_merges_over_parameters_and_defaults() -> None:
    async with (
        scripted_server(ok, prefix="") as server,
        ft.AsyncClient.azure(endpoint=server.base_url, api_key="azure-key", api_version="2024-10-21") as client,
    ):
        await client.fine_tuning.jobs.list(limit=5, extra_query={"limit": 7, "include": True})
        await client.fine_tuning.jobs.retrieve("ftjob-abc", extra_query={"api-version": "2025-04-01-preview"})
        await client.fine_tuning.jobs.retrieve("ftjob-abc", extra_query={"api-version": None})
        await client.fine_tuning.jobs.retrieve("ftjob-abc", extra_query={"filter": {"a": "1", "b": 2}})
    first, second, third, fourth = server.seen
    assert first.query == {"api-version": "2024-10-21", "limit": "7", "include": "true"}
    assert second.query == {"api-version": "2025-04-01-preview"}
    assert third.query == {}
    assert fourth.query == {"api-version": "2024-10-21", "filter[a]": "1", "filter[b]": "2"}


async def test_extra_query_rides_on_every_page_but_the_cursor_wins() -> None:
    pages = {
        None: {"object": "list", "data": [job_json("ftjob-1")], "has_more": True},
        "ftjob-1": {"object": "list", "data": [job_json("ftjob-2")], "has_more": False},
    }

    async def handler(request: web.Request) -> web.Response:
        return json_response(pages[request.query.get("after") if request.query.get("after") != "x" else None])

    async with scripted_server(handler) as server, ft.AsyncClient(api_key="sk-t", base_url=server.base_url) as c:
        ids = [
            job.id
            async for job in c.fine_tuning.jobs.list(
                extra_query={"after": "x", "tag": "t"}, extra_headers={"X-Probe": "p"}
            )
        ]
    assert ids == ["ftjob-1", "ftjob-2"]
    assert [s.query for s in server.seen] == [{"after": "x", "tag": "t"}, {"after": "ftjob-1", "tag": "t"}]
    assert all(s.headers["X-Probe"] == "p" for s in server.seen)


# --- extra_body -----------------------------------------------------------------------------


async def test_extra_body_merges_into_the_json_body() -> None:
    import openai

    async with scripted_server(ok) as server, ft.AsyncClient(api_key="sk-t", base_url=server.base_url) as client:
        await client.fine_tuning.jobs.create(
            model="gpt-4o-mini-2024-07-18",
            training_file="file-abc",
            suffix="mine",
            seed=3,
            extra_body={"suffix": "theirs", "seed": openai.Omit(), "new_param": {"nested": [1, None]}, "n": None},
        )
        await client.fine_tuning.jobs.cancel("ftjob-abc", extra_body={"reason": "done"})
    sent = json.loads(server.seen[0].body)
    assert sent["suffix"] == "theirs"
    assert "seed" not in sent
    assert sent["new_param"] == {"nested": [1, None]}
    assert sent["n"] is None  # None is sent as null, as the official SDK does
    assert sent["model"] == "gpt-4o-mini-2024-07-18"
    assert json.loads(server.seen[1].body) == {"reason": "done"}
    assert server.seen[1].headers["Content-Type"] == "application/json"


async def test_extra_body_on_a_multipart_create_becomes_form_fields() -> None:
    async def handler(request: web.Request) -> web.Response:
        return json_response(
            {
                "id": "file-1",
                "object": "file",
                "bytes": 3,
                "created_at": 1,
                "filename": "w.jsonl",
                "purpose": "fine-tune",
                "status": "processed",
            }
        )

    async with scripted_server(handler) as server, ft.AsyncClient(api_key="sk-t", base_url=server.base_url) as c:
        await c.files.create(
            file=("w.jsonl", b"{}\n"),
            extra_body={"purpose": "batch", "expires_after": {"anchor": "created_at", "seconds": 3600}, "flag": True},
        )
        with pytest.raises(ValueError, match=r"extra_body.*file"):
            await c.files.create(file=("w.jsonl", b"{}\n"), extra_body={"file": "x"})
    assert form_fields(server.seen[0]) == {
        "purpose": "batch",
        "expires_after[anchor]": "created_at",
        "expires_after[seconds]": "3600",
        "flag": "true",
    }
    assert len(server.seen) == 1


async def test_options_are_checked_for_shape() -> None:
    async with ft.AsyncClient(api_key="sk-test", base_url="http://127.0.0.1:9/v1") as client:
        with pytest.raises(TypeError, match="extra_body"):
            await client.fine_tuning.jobs.cancel("ftjob-abc", extra_body=["not", "a", "mapping"])  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="extra_query"):
            await client.fine_tuning.jobs.retrieve("ftjob-abc", extra_query="a=b")  # type: ignore[arg-type]


# --- safety rules still hold ----------------------------------------------------------------


async def test_a_credential_in_extra_headers_never_shows(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="finetune_async")
    secret_headers = {"Authorization": f"Bearer {SECRET}", "X-Api-Key": SECRET}

    async def handler(request: web.Request) -> web.Response:
        if request.path.endswith("/gone"):
            return error_response(404, "No such job")
        if request.path.endswith("/boom"):
            return error_response(500, "Server error")
        if request.path.endswith("/jobs"):
            return json_response({"object": "list", "data": [job_json()], "has_more": False})
        await asyncio.sleep(1)
        return json_response(job_json())

    errors: list[BaseException] = []
    async with (
        scripted_server(handler) as server,
        ft.AsyncClient(api_key="sk-test", base_url=server.base_url, max_retries=1) as client,
    ):
        for job_id in ("gone", "boom", "slow"):
            with pytest.raises(ft.FineTuneError) as caught:
                await client.fine_tuning.jobs.retrieve(job_id, extra_headers=secret_headers, timeout=0.2)
            errors.append(caught.value)
        raw = await client.fine_tuning.jobs.with_raw_response.list(extra_headers=secret_headers)
    async with ft.AsyncClient(api_key="sk-test", base_url="http://127.0.0.1:9/v1", max_retries=0) as closed:
        with pytest.raises(ft.APIConnectionError) as caught:
            await closed.fine_tuning.jobs.retrieve("ftjob-abc", extra_headers=secret_headers)
        errors.append(caught.value)
    shown = [repr(raw), str(raw.headers), caplog.text]
    for error in errors:
        chain: BaseException | None = error
        while chain is not None:
            shown += [str(chain), repr(chain), repr(vars(chain)) if hasattr(chain, "__dict__") else ""]
            chain = chain.__cause__ or chain.__context__
    assert not [text for text in shown if SECRET in text]


async def test_a_credential_in_extra_headers_never_follows_a_redirect_to_another_origin() -> None:
    async with scripted_server(ok, prefix="") as other:

        async def redirect(request: web.Request) -> web.Response:
            raise web.HTTPTemporaryRedirect(other.base_url + request.path_qs)

        async with (
            scripted_server(redirect) as origin,
            ft.AsyncClient(api_key="sk-test", base_url=origin.base_url) as client,
        ):
            with pytest.raises(ft.RedirectError):
                await client.fine_tuning.jobs.retrieve("ftjob-abc", extra_headers={"X-Api-Key": SECRET})
    assert other.seen == []


async def test_ids_are_still_checked_with_options() -> None:
    async with scripted_server(ok) as server, ft.AsyncClient(api_key="sk-t", base_url=server.base_url) as client:
        with pytest.raises(ValueError, match="fine_tuning_job_id"):
            await client.fine_tuning.jobs.retrieve("../files", extra_query={"a": "b"})
    assert server.seen == []


def test_the_options_repr_hides_header_values() -> None:
    from finetune_async._options import RequestOptions

    options = RequestOptions.of({"extra_headers": {"Authorization": f"Bearer {SECRET}"}, "timeout": 3})
    assert SECRET not in repr(options)
    assert "Authorization" in repr(options)


# --- the official SDK's encoding, property-tested against it ------------------------------

# orjson, which writes JSON bodies, takes 64-bit integers.
_SCALARS = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8) | st.floats(allow_nan=False)
)
_NESTED = st.recursive(_SCALARS, lambda inner: st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)
_KEYS = st.text(min_size=1, max_size=6)


@given(st.dictionaries(_KEYS, _NESTED | st.lists(_NESTED, max_size=3), max_size=4))
def test_extra_query_is_encoded_as_the_official_sdk_encodes_it(query: dict[str, Any]) -> None:
    from openai._qs import Querystring

    from finetune_async._options import RequestOptions

    ours = [(key, value) for key, value in RequestOptions.of({"extra_query": query}).query if value is not None]
    assert ours == Querystring().stringify_items(query)


@given(st.dictionaries(_KEYS.filter(lambda k: "[" not in k), _NESTED, max_size=4))
def test_extra_body_form_fields_are_the_official_sdks(body: dict[str, Any]) -> None:
    from openai._qs import Querystring

    from finetune_async._options import RequestOptions

    ours = RequestOptions.of({"extra_body": body}).merge_form({})
    assert ours == dict(Querystring().stringify_items(body, array_format="brackets"))


@pytest.mark.parametrize("name", sorted(TOGETHER_RECIPES))
async def test_the_four_options_reach_the_wire_on_together(name: str) -> None:
    recipe = TOGETHER_RECIPES[name]
    async with (
        scripted_server(answer_404) as server,
        ft.AsyncClient.together(api_key="tg-key", base_url=server.base_url, max_retries=0, timeout=30) as client,
    ):
        await _send_probes(client, recipe)
    assert len(server.seen) == 1
    _check_probe(server.seen[0], recipe)
