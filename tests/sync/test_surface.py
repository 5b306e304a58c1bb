"""Every public method of every async resource has its synchronous twin, of the right kind.

The facade lists each method once (``finetune_async/sync/_resources.py``); this test is what
keeps that list current when the async side gains a method, a namespace or a helper.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import finetune_async as ft
from finetune_async import polling, sync
from finetune_async.resources._base import Resource
from finetune_async.sync._facade import SyncResource, _Method

#: AsyncClient's public names the synchronous client does not offer, and why.
NOT_MIRRORED = {
    "close": "synchronous on Client",
    "with_streaming_response": "async context managers; see the notes (a sync view is future work)",
    "connections_in_use": "a count that only the loop's thread can read consistently",
    "ledger": "internal state of the async client",
    "organization": "read from repr / the async client",
    "project": "read from repr / the async client",
}


def _kind(function: Any) -> str:
    returns = str(inspect.signature(function).return_annotation)
    if "AsyncPaginator" in returns:
        return "listing"
    if "AsyncIterator" in returns or "AsyncGenerator" in returns:
        return "stream"
    if returns.startswith("Page["):
        return "paged"
    return "call"


def _pairs(inner: Resource, outer: SyncResource, path: str) -> Iterator[tuple[str, Resource, SyncResource]]:
    yield path, inner, outer
    for cls in type(inner).__mro__:
        for name in getattr(cls, "__slots__", ()):
            child = getattr(inner, name, None)
            if isinstance(child, Resource) and not name.startswith("_"):
                twin = getattr(outer, name)
                assert isinstance(twin, SyncResource), f"{path}.{name}"
                yield from _pairs(child, twin, f"{path}.{name}")


def test_every_async_method_has_its_sync_twin() -> None:
    inner = ft.AsyncClient(api_key="sk-test", base_url="http://127.0.0.1:9/v1")
    with ft.Client(api_key="sk-test", base_url="http://127.0.0.1:9/v1") as client:
        seen = 0
        for root in ("files", "uploads", "fine_tuning", "models"):
            for path, resource, twin in _pairs(getattr(inner, root), getattr(client, root), root):
                for name, member in inspect.getmembers(type(resource), inspect.isfunction):
                    if name.startswith("_"):
                        continue
                    method = inspect.getattr_static(type(twin), name, None)
                    assert isinstance(method, _Method), f"client.{path}.{name} has no synchronous twin"
                    assert method.function is member, f"client.{path}.{name} wraps another method"
                    assert method.kind == _kind(member), f"client.{path}.{name}: {method.kind} for {_kind(member)}"
                    seen += 1
        assert seen >= 30


def test_the_client_offers_the_async_clients_names() -> None:
    public = {name for name in dir(ft.AsyncClient) if not name.startswith("_")}
    public |= {"files", "uploads", "fine_tuning", "models"}
    missing = {name for name in public - set(NOT_MIRRORED) if not hasattr(ft.Client, name)}
    missing -= {name for name in ("files", "uploads", "fine_tuning", "models") if name in ft.Client.__annotations__}
    assert not missing


def test_every_polling_helper_has_its_sync_twin() -> None:
    for name in polling.__all__:
        twin = getattr(sync, name)
        assert twin.__wrapped__ is getattr(polling, name), name
    assert sync.run_batch.__wrapped__ is ft.run_batch


def test_signatures_and_docs_are_the_async_ones() -> None:
    with ft.Client(api_key="sk-test", base_url="http://127.0.0.1:9/v1") as client:
        create = client.fine_tuning.jobs.create
        assert create.__doc__ == ft.AsyncClient(api_key="k").fine_tuning.jobs.create.__doc__
        assert list(inspect.signature(create).parameters)[:2] == ["model", "training_file"]
        assert "extra_body" in inspect.signature(create).parameters
        assert inspect.signature(ft.Client).parameters.keys() == inspect.signature(ft.AsyncClient).parameters.keys()
        assert (
            inspect.signature(ft.Client.azure).parameters.keys()
            == inspect.signature(ft.AsyncClient.azure).parameters.keys()
        )
