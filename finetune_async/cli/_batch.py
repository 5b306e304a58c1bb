"""``finetune-async batch SPECS``: run a batch of fine-tunes (see :func:`finetune_async.run_batch`):
the spec file's reader, the live table and the command."""

from __future__ import annotations

import json
import shlex
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import attrs
import click
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

import finetune_async as ft
from finetune_async._journal import JournalBusyError, JournalStore, SpecRow, SpecState, is_postgres, read_sqlite
from finetune_async._journal_pg import DEFAULT_LEASE_SECONDS, PostgresJournal
from finetune_async.batch import DEFAULT_MAX_CONCURRENT

from ._context import EXIT_FAILED, EXIT_OK, client_options, current_settings, json_option, run_async
from ._output import err_console, fmt_duration, out_console, print_json

__all__ = ["BatchView", "batch", "load_specs", "status_command"]

_STYLE = {
    "succeeded": "bold green",
    "failed": "bold red",
    "cancelled": "yellow",
    "invalid": "bold red",
    "error": "bold red",
    "running": "cyan",
    "paused": "yellow",
    "waiting": "dim",
}
#: How the live table shows a step of the batch that is not a job status.
_SHOWN = {"waiting": "waiting for a slot", "pending": "pending"}
_FINISHED = frozenset({"succeeded", "failed", "cancelled", "invalid", "error"})
#: Rows the live table shows at most (a batch may have thousands of specs): unfinished ones first.
LIVE_ROWS = 25


def load_specs(path: str | Path) -> tuple[list[ft.BatchSpec], str | None]:
    """Specs from a YAML or JSONL file; ``(specs, batch_id or None)``.

    YAML: a list of spec objects, or an object with ``specs`` (the list), optional ``defaults``
    (fields every spec starts from) and optional ``batch_id``. JSONL (``.jsonl``): one spec
    object per line. Relative file paths are resolved against the file's directory; keys are
    derived from the specs as written, so they do not depend on where the file lies.

    Raises :class:`ValueError` for a malformed file or spec, :class:`OSError` if unreadable.
    """
    source = Path(path)
    text = source.read_text(encoding="utf-8")
    batch_id: str | None = None
    defaults: Mapping[str, Any] = {}
    raw: Any
    if source.suffix in (".jsonl", ".ndjson"):
        raw = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    raw.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{source}:{number}: not JSON: {exc.msg}") from None
    else:
        try:
            import yaml
        except ImportError:
            raise ValueError("YAML spec files need PyYAML (pip install pyyaml); JSONL files do not") from None
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"{source}: not YAML: {exc}") from None
        if isinstance(doc, Mapping):
            unknown = set(doc) - {"specs", "defaults", "batch_id"}
            if unknown:
                raise ValueError(f"{source}: unknown top-level field(s): {', '.join(sorted(map(str, unknown)))}")
            raw = doc.get("specs") or []
            defaults = doc.get("defaults") or {}
            batch_id = None if doc.get("batch_id") is None else str(doc["batch_id"])
            if not isinstance(defaults, Mapping):
                raise ValueError(f"{source}: 'defaults' must be an object")
        elif isinstance(doc, list):
            raw = doc
        else:
            raise ValueError(f"{source}: expected a list of specs or an object with 'specs'")
    if not isinstance(raw, list):
        raise ValueError(f"{source}: 'specs' must be a list")
    specs = []
    for number, item in enumerate(raw, 1):
        if not isinstance(item, Mapping):
            raise ValueError(f"{source}: spec {number} is not an object")
        try:
            written = ft.BatchSpec.from_dict({**defaults, **item})
            # The key comes from the spec as written; only then are its paths made absolute.
            specs.append(
                attrs.evolve(
                    written,
                    key=written.spec_key,
                    training_file=_resolve(source, written.training_file),
                    validation_file=_resolve(source, written.validation_file),
                )
            )
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{source}: spec {number}: {exc}") from None
    return specs, batch_id


def _resolve(spec_file: Path, ref: Any) -> Any:
    if ref is None:
        return None
    text = str(ref)
    if not any(c in text for c in "/\\.") and not (spec_file.parent / text).exists() and not Path(text).exists():
        # An uploaded file's id (file-..., or a provider's own, such as a Fireworks dataset id):
        # no separator, no extension, no such file. run_batch reads it by the provider's id shape.
        return text
    candidate = Path(text)
    return str(candidate if candidate.is_absolute() else spec_file.parent / candidate)


class BatchView:
    """The live table of a batch on a terminal; elsewhere one line per spec as it ends."""

    def __init__(self, console: Console, keys: Sequence[str], *, quiet: bool = False) -> None:
        self.console = console
        self.quiet = quiet
        self.started = time.monotonic()
        self.results: dict[str, ft.SpecResult] = {key: ft.SpecResult(key=key, status="pending") for key in keys}
        self._live: Live | None = None

    def __enter__(self) -> BatchView:
        if not self.quiet and self.console.is_terminal:
            self._live = Live(console=self.console, get_renderable=self.render, refresh_per_second=4, transient=True)
            self._live.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)
            self._live = None

    def update(self, result: ft.SpecResult) -> None:
        """``run_batch``'s ``on_update``."""
        before = self.results.get(result.key)
        self.results[result.key] = result
        if self._live is None and not self.quiet and result.finished and (before is None or not before.finished):
            self.console.print(_line(result))

    def counts(self) -> Counter[str]:
        return Counter(r.status for r in self.results.values())

    def render(self) -> RenderableType:
        """A summary line and the table (unfinished specs first, at most ``LIVE_ROWS``)."""
        counts = self.counts()
        done = sum(n for status, n in counts.items() if status in _FINISHED)
        summary = Text(f"{done}/{len(self.results)} done  ", style="bold")
        summary.append("  ".join(f"{status} {n}" for status, n in sorted(counts.items())), style="dim")
        summary.append(f"  {fmt_duration(time.monotonic() - self.started)}", style="dim")
        active = [r for r in self.results.values() if not r.finished]
        finished = [r for r in self.results.values() if r.finished]
        shown = (active + finished)[:LIVE_ROWS]
        parts: list[RenderableType] = [summary, live_table(shown)]
        if len(self.results) > len(shown):
            parts.append(Text(f"… and {len(self.results) - len(shown)} more", style="dim"))
        return Group(*parts)


def live_table(results: Sequence[ft.SpecResult], *, now: float | None = None) -> Table:
    """One row per spec as it stands: key, status (a job's own, or the batch's step: waiting
    for a slot, uploading, ...), job, step/total, time left (from the job's estimated finish),
    error."""
    clock = time.time() if now is None else now
    table = Table()
    for name in ("spec", "status", "job", "step", "ETA", "error"):
        table.add_column(name, overflow="fold" if name == "error" else "ellipsis", no_wrap=name != "error")
    for r in results:
        step = "-" if r.step is None else str(r.step)
        if r.step is not None and r.total_steps is not None:
            step = f"{r.step}/{r.total_steps}"
        eta = "-"
        if r.estimated_finish is not None and not r.finished:
            eta = fmt_duration(max(0.0, r.estimated_finish - clock))
        table.add_row(
            Text(r.key),
            Text(_SHOWN.get(r.status, r.status), style=_STYLE.get(r.status, "")),
            Text(r.job_id or "-"),
            Text(step),
            Text(eta),
            Text(r.error or "", style="red"),
        )
    return table


def results_table(results: Sequence[ft.SpecResult]) -> Table:
    """One row per spec: key, status, job, fine-tuned model, tokens, duration, error."""
    table = Table()
    for name in ("spec", "status", "job", "fine-tuned model", "tokens", "duration", "error"):
        table.add_column(name, overflow="fold" if name == "error" else "ellipsis")
    for r in results:
        # Text, not str: keys and error messages may hold brackets that rich would read as markup.
        table.add_row(
            Text(r.key),
            Text(r.status, style=_STYLE.get(r.status, "")),
            Text(r.job_id or "-"),
            Text(r.fine_tuned_model or "-"),
            Text(f"{r.trained_tokens:,}" if r.trained_tokens is not None else "-"),
            Text(fmt_duration(r.duration) if r.duration is not None else "-"),
            Text(r.error or "", style="red"),
        )
    return table


def _line(result: ft.SpecResult) -> Text:
    line = Text(f"{result.key}: ")
    line.append(result.status, style=_STYLE.get(result.status, ""))
    if result.job_id:
        line.append(f"  {result.job_id}")
    if result.fine_tuned_model:
        line.append(f"  {result.fine_tuned_model}")
    if result.error:
        line.append(f"  {result.error}", style="red")
    return line


class _BatchGroup(click.Group):
    """``batch SPECS ...`` runs a batch (the ``run`` command, named or not); ``batch status``
    shows one. Anything that is not a subcommand's name goes to ``run``, ``--help`` too."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or args[0] not in self.commands:
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_BatchGroup)
def batch() -> None:
    """Run a batch of fine-tunes (`finetune-async batch SPECS`), or show one (`batch status`)."""


@batch.command("run")
@click.argument("specs_file", metavar="SPECS", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--max-concurrent",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_CONCURRENT,
    show_default=True,
    help="Jobs active at once; the rest wait their turn.",
)
@click.option(
    "--journal",
    metavar="PATH|URL",
    help="The batch's SQLite journal (default: SPECS with the suffix .batch.sqlite, next to it), or a"
    " postgresql:// URL: a database every worker of the batch shares.",
)
@click.option(
    "--lease",
    "lease_seconds",
    type=click.FloatRange(min=1.0),
    default=DEFAULT_LEASE_SECONDS,
    show_default=True,
    help="PostgreSQL journal: seconds a worker's claim on a spec lasts without a heartbeat"
    " (a dead worker's specs are taken over that long after it died).",
)
@click.option(
    "--worker", "worker_id", metavar="NAME", help="PostgreSQL journal: this worker's name (default: host:pid:random)."
)
@click.option("--batch-id", metavar="ID", help="Name the batch (default: the journal's, or derived from the specs).")
@click.option("--cancel-on-interrupt", is_flag=True, help="On Ctrl-C, cancel the batch's unfinished jobs.")
@click.option(
    "--restart-cancelled",
    is_flag=True,
    help="Give every spec whose job was cancelled one new job (by default it stays cancelled).",
)
@client_options
@json_option
def run_command(
    specs_file: str,
    max_concurrent: int,
    journal: str | None,
    lease_seconds: float,
    worker_id: str | None,
    batch_id: str | None,
    cancel_on_interrupt: bool,
    restart_cancelled: bool,
    as_json: bool,
) -> int:
    """Run a batch of fine-tunes described in SPECS (YAML, or JSONL: one spec per line).

    Each spec has training_file (a path or a file id), model, and optionally validation_file,
    method (supervised, dpo, reinforcement, or the API's method object), hyperparameters,
    suffix, seed, metadata and key. A YAML file may also give `defaults` for every spec and a
    `batch_id`. Files are validated and uploaded once; at most --max-concurrent jobs run at a
    time. On a terminal, a live table shows each spec's status (a job's own, or waiting for a
    slot, uploading, ...), its job's step/total and the time left.

    Safe to run again after a crash or Ctrl-C: the journal and the jobs' metadata let the batch
    reattach to the jobs that exist and create only the missing ones; it ends with
    "reattached N, created M". A spec whose job was cancelled (--cancel-on-interrupt, or by
    hand) stays cancelled; --restart-cancelled gives each one new job. Exits 0 when every
    spec's job succeeded, 1 otherwise. --json prints the report.

    Many workers, one batch: with --journal postgresql://user@host/db every worker (on any
    machine) runs this same command; each spec is claimed by one worker at a time under a
    lease, a dead worker's specs are taken over once its lease lapses, and one job trains per
    spec. Each worker helps until no spec is left, then prints the whole batch's report.
    `finetune-async batch status --journal ...` shows where the batch stands, from anywhere.
    """
    try:
        specs, file_batch_id = load_specs(specs_file)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="SPECS") from None
    if not specs:
        raise click.BadParameter("no specs in the file", param_hint="SPECS")
    keys = Counter(s.spec_key for s in specs)
    repeated = sorted(key for key, n in keys.items() if n > 1)
    if repeated:
        raise click.BadParameter(f"specs with the same key: {', '.join(repeated[:5])}", param_hint="SPECS")
    journal_path = journal or str(Path(specs_file).with_suffix(".batch.sqlite"))
    target: str | JournalStore = journal_path
    if is_postgres(journal_path):
        try:
            target = PostgresJournal(journal_path, lease_seconds=lease_seconds, worker_id=worker_id)
        except ft.FineTuneError as exc:
            raise click.BadParameter(str(exc), param_hint="--journal") from None
        journal_path = target.location
    rerun = _rerun_command(specs_file, journal, batch_id)
    settings = current_settings()
    if cancel_on_interrupt:
        settings.interrupt_note = (
            f"Interrupted. Unfinished jobs were cancelled. `{rerun}` goes on with the specs that had no job"
            f" yet; `{rerun} --restart-cancelled` also starts the cancelled ones again, a new job each"
            f" (journal: {journal_path})."
        )
    else:
        settings.interrupt_note = (
            f"Interrupted. The jobs keep running: `{rerun}` reattaches to them (journal: {journal_path})."
        )
    view = BatchView(err_console(), [s.spec_key for s in specs], quiet=as_json)

    async def run_specs(client: ft.AsyncClient) -> ft.BatchReport:
        with view:
            return await ft.run_batch(
                client,
                specs,
                max_concurrent=max_concurrent,
                journal=target,
                batch_id=batch_id or file_batch_id,
                cancel_jobs_on_exit=cancel_on_interrupt,
                on_update=view.update,
                restart_cancelled=restart_cancelled,
            )

    report = run_async(run_specs)
    settings.interrupt_note = None
    if as_json:
        print_json(report.as_dict())
    else:
        console = out_console()
        console.print(results_table(report.results))
        counts = Counter(r.status for r in report.results)
        console.print(
            Text(f"batch {report.batch_id}: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
        )
        line = f"reattached {report.reattached}, created {report.created}"
        if report.restarted:
            line += f"; restarted {report.restarted} cancelled spec(s)"
        if report.extra_jobs:
            line += f"; cancelled {len(report.extra_jobs)} duplicate job(s): {', '.join(report.extra_jobs)}"
        console.print(Text(line))
        if report.cancelled:
            console.print(
                Text(
                    f"{len(report.cancelled)} cancelled: `{rerun} --restart-cancelled` starts them again"
                    " (a new job each)."
                )
            )
    return EXIT_OK if report.ok else EXIT_FAILED


def _rerun_command(specs_file: str, journal: str | None, batch_id: str | None) -> str:
    """The command that runs this batch again (same specs, journal and batch id), for a shell."""
    argv = ["finetune-async", "batch", specs_file]
    if journal is not None:
        argv += ["--journal", PostgresJournal.redact(journal) if is_postgres(journal) else journal]
    if batch_id is not None:
        argv += ["--batch-id", batch_id]
    return shlex.join(argv)


@batch.command("status")
@click.argument("specs_file", metavar="[SPECS]", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--journal",
    metavar="PATH|URL",
    help="The batch's journal: a SQLite file (default: SPECS with the suffix .batch.sqlite) or a postgresql:// URL.",
)
@click.option(
    "--batch-id",
    metavar="ID",
    help="PostgreSQL journal: which batch (default: the only one in the database, or SPECS's).",
)
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True, help="Spec rows shown at most.")
@json_option
def status_command(specs_file: str | None, journal: str | None, batch_id: str | None, limit: int, as_json: bool) -> int:
    """Where a batch stands, from its journal, on any machine (no API key needed): the specs
    by state, which worker holds which (PostgreSQL journals: its lease's seconds left), and one
    row per spec (unfinished first, at most --limit; --json: all of them)."""
    if journal is None:
        if specs_file is None:
            raise click.UsageError("give --journal (a path or a postgresql:// URL), or SPECS")
        journal = str(Path(specs_file).with_suffix(".batch.sqlite"))
    if batch_id is None and specs_file is not None:
        try:
            specs, batch_id = load_specs(specs_file)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="SPECS") from None
        if batch_id is None and specs:
            batch_id = ft.batch._derive_batch_id({s.spec_key: s for s in specs})
    if is_postgres(journal):
        found_id, rows = anyio.run(_pg_status, journal, batch_id)
    else:
        try:
            recorded, rows = read_sqlite(journal)
        except JournalBusyError as exc:
            raise click.ClickException(str(exc)) from None
        found_id = recorded or "-"
    ordered = sorted(rows, key=lambda r: (r.state == SpecState.DONE, r.key))
    states = Counter(r.state if r.state != SpecState.DONE else f"done/{r.status}" for r in rows)
    holders = Counter(r.owner for r in rows if r.owner and r.state != SpecState.DONE and (r.lease_left or 0) > 0)
    if as_json:
        print_json(
            {
                "batch_id": found_id,
                "counts": dict(sorted(states.items())),
                "workers": dict(sorted(holders.items())),
                "specs": [_row_object(r) for r in ordered],
            }
        )
        return EXIT_OK
    console = out_console()
    console.print(
        Text(f"batch {found_id}: {len(rows)} spec(s): " + ", ".join(f"{n} {s}" for s, n in sorted(states.items())))
    )
    for worker, n in sorted(holders.items()):
        console.print(Text(f"  {worker} holds {n}"))
    table = Table()
    for name in ("spec", "state", "status", "job", "worker", "lease", "attempts", "error"):
        table.add_column(name, overflow="fold" if name == "error" else "ellipsis")
    for r in ordered[:limit]:
        lease = "-" if r.lease_left is None or r.state == SpecState.DONE else f"{r.lease_left:.0f}s"
        table.add_row(
            Text(r.key),
            Text(r.state),
            Text(r.status or "-", style=_STYLE.get(r.status or "", "")),
            Text(r.job_id or "-"),
            Text(r.owner or "-"),
            Text(lease if r.lease_left is None or r.lease_left > 0 else "lapsed"),
            Text(str(r.attempts)),
            Text(r.error or "", style="red"),
        )
    console.print(table)
    if len(ordered) > limit:
        console.print(Text(f"… and {len(ordered) - limit} more (--limit, or --json for all)", style="dim"))
    return EXIT_OK


async def _pg_status(dsn: str, batch_id: str | None) -> tuple[str, list[SpecRow]]:
    store = PostgresJournal(dsn)
    await store.open()
    try:
        if batch_id is None:
            batches = await store.batches()
            if len(batches) != 1:
                names = ", ".join(b for b, _ in batches[:10]) or "none"
                raise click.UsageError(f"the database holds {len(batches)} batches ({names}): give --batch-id")
            batch_id = batches[0][0]
        store.select(batch_id)
        rows = await store.specs()
        if not rows and batch_id not in {b for b, _ in await store.batches()}:
            raise click.UsageError(f"no batch {batch_id!r} in {store.location}")
        return batch_id, list(rows.values())
    finally:
        await store.aclose()


def _row_object(r: SpecRow) -> dict[str, Any]:
    return {
        "key": r.key,
        "state": r.state,
        "status": r.status,
        "job_id": r.job_id,
        "fine_tuned_model": r.fine_tuned_model,
        "error": r.error,
        "attempts": r.attempts,
        "worker": r.owner,
        "fence": r.fence,
        "lease_left": r.lease_left,
    }
