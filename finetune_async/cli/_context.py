"""What every command shares: the group's settings, running a command's coroutine, the exit
codes, the command's own errors and the options every command takes.

Commands live in modules of their own (``_files``, ``_jobs``, ...) and import from here;
``_app`` assembles them into the group and turns what they raise into output and exit codes.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import click

import finetune_async as ft

from ._output import error_object, escape_controls

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "METHODS",
    "PROVIDERS",
    "CommandError",
    "Interrupted",
    "NoApiKey",
    "Settings",
    "client_options",
    "current_settings",
    "json_option",
    "run_async",
    "run_loop",
    "still_running_note",
]

T = TypeVar("T")

#: The training methods ``--method`` accepts (a provider may take fewer: its capabilities say).
METHODS = ("supervised", "dpo", "reinforcement", "spec-draft")

#: What ``--provider`` accepts.
PROVIDERS = ("openai", "azure", "nebius", "together", "fireworks")

#: Each provider's API key variable, for the "no API key" message.
_KEY_ENV = {
    "openai": "OPENAI_API_KEY",
    "azure": "AZURE_OPENAI_API_KEY",
    "nebius": "NEBIUS_API_KEY",
    "together": "TOGETHER_API_KEY",
    "fireworks": "FIREWORKS_API_KEY",
}

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class Settings:
    """What the group's options say, shared by every command through ``ctx.obj``."""

    def __init__(self, api_key: str | None, base_url: str | None, provider: str | None = None) -> None:
        self.api_key = api_key
        self.base_url = base_url
        #: One of :data:`PROVIDERS` (``--provider``, else ``$FINETUNE_ASYNC_PROVIDER``, else openai).
        self.provider = provider
        # Printed if Ctrl-C ends the command (set by commands that watch a job).
        self.interrupt_note: str | None = None

    def provider_name(self) -> str:
        """The provider chosen: ``--provider``, else ``$FINETUNE_ASYNC_PROVIDER``, else openai."""
        return self.provider or os.environ.get("FINETUNE_ASYNC_PROVIDER") or "openai"

    def client(self) -> ft.AsyncClient:
        """A client from the options, or the provider's environment variables (raises
        :class:`finetune_async.FineTuneError` when there is no API key).

        With ``--provider azure``, ``--base-url`` is the resource endpoint
        (``$AZURE_OPENAI_ENDPOINT``), ``--api-key`` its key (``$AZURE_OPENAI_API_KEY``), and
        ``$OPENAI_API_VERSION`` a dated api-version (none: the v1 route). With ``--provider
        nebius``, ``$NEBIUS_API_KEY`` and ``$NEBIUS_BASE_URL`` are the defaults; with
        ``together``, ``$TOGETHER_API_KEY`` and ``$TOGETHER_BASE_URL``; with ``fireworks``,
        ``$FIREWORKS_API_KEY``, ``$FIREWORKS_BASE_URL`` and the account, ``$FIREWORKS_ACCOUNT_ID``.
        """
        provider = self.provider_name()
        if provider == "azure":
            return ft.AsyncClient.azure(endpoint=self.base_url, api_key=self.api_key)
        if provider == "nebius":
            return ft.AsyncClient.nebius(api_key=self.api_key, base_url=self.base_url)
        if provider == "together":
            return ft.AsyncClient.together(api_key=self.api_key, base_url=self.base_url)
        if provider == "fireworks":
            return ft.AsyncClient.fireworks(api_key=self.api_key, base_url=self.base_url)
        if provider != "openai":
            raise click.UsageError(f"--provider must be one of {', '.join(PROVIDERS)}, not {provider!r}")
        return ft.AsyncClient(api_key=self.api_key, base_url=self.base_url)

    def secrets(self) -> list[str | None]:
        """What no output may show: the given key and the environment's."""
        return [self.api_key, *(os.environ.get(name) for name in _KEY_ENV.values())]


def current_settings() -> Settings:
    """The running command's settings (empty ones outside a command)."""
    return click.get_current_context().find_object(Settings) or Settings(None, None)


def still_running_note(job_id: str) -> str:
    """What Ctrl-C prints while a command watches a job: it keeps running, and how to go on."""
    return (
        f"Stopped watching. Job {job_id} is still running (it was not cancelled): "
        f"`finetune-async wait {job_id}` to watch it again, `finetune-async cancel {job_id}` to stop it."
    )


class CommandError(click.ClickException):
    """A command's own failure: one ``error:`` line, or with ``--json`` an error object whose
    ``type`` (``kind``), ``code`` and ``param`` (and any ``extra`` fields) say what failed
    (exit 1 unless ``exit_code`` says otherwise)."""

    exit_code = EXIT_FAILED

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        code: str | None = None,
        param: str | None = None,
        exit_code: int | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
        self.kind = kind
        self.code = code
        self.param = param
        self.extra = extra

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {escape_controls(self.message)}", err=True)

    def as_object(self) -> dict[str, Any]:
        """The ``--json`` error object."""
        return error_object(self.message, kind=self.kind, code=self.code, param=self.param, **self.extra)


class NoApiKey(CommandError):
    """No API key was given or found (exit 2, like any usage error)."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str) -> None:
        super().__init__(message, kind="usage_error", code="missing_api_key", param="--api-key")


class Interrupted(Exception):
    """Ctrl-C while a command's event loop ran (raised instead of KeyboardInterrupt so that
    click does not print its own blank line first, which would break ``--json``'s one line)."""


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, with Ctrl-C raised as :class:`Interrupted`."""
    try:
        return asyncio.run(main)
    except KeyboardInterrupt:
        raise Interrupted from None


def run_async(factory: Callable[[ft.AsyncClient], Awaitable[T]]) -> T:
    """Run ``factory(client)`` on a fresh event loop with a client that is closed afterwards.

    Raises :class:`NoApiKey` when the settings and the environment hold no key, and
    :class:`Interrupted` on Ctrl-C; anything ``factory`` raises passes through.
    """
    settings = current_settings()
    try:
        client = settings.client()
    except ft.FineTuneError:
        env = _KEY_ENV.get(settings.provider_name(), "OPENAI_API_KEY")
        raise NoApiKey(f"no API key: set {env} or pass --api-key (`finetune-async demo` runs without one)") from None

    async def with_client() -> T:
        async with client:
            return await factory(client)

    return run_loop(with_client())


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (the API's shapes) instead of text.")


def _set_setting(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    settings = ctx.find_object(Settings)
    if value is not None and settings is not None and param.name is not None:
        setattr(settings, param.name, value)


def client_options(command: Callable[..., T]) -> Callable[..., T]:
    """``--api-key``, ``--base-url`` and ``--provider`` after the command name too (they
    override the group's)."""
    command = click.option(
        "--provider",
        type=click.Choice(PROVIDERS),
        expose_value=False,
        callback=_set_setting,
        help="Where the API is (default: $FINETUNE_ASYNC_PROVIDER, else openai).",
    )(command)
    command = click.option(
        "--base-url", metavar="URL", expose_value=False, callback=_set_setting, help="API base URL."
    )(command)
    return click.option("--api-key", metavar="KEY", expose_value=False, callback=_set_setting, help="API key.")(command)
