"""``finetune-async upload``: send a file (validated first when it is training data)."""

from __future__ import annotations

import os

import click

import finetune_async as ft

from ._actions import print_report, upload_files
from ._context import EXIT_FAILED, EXIT_OK, CommandError, client_options, current_settings, json_option, run_async
from ._datasets import data_method_option, validate_file
from ._output import err_console, out_console, print_json

__all__ = ["upload"]


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--purpose", default="fine-tune", show_default=True, help="The file's purpose.")
@data_method_option
@click.option("--no-validate", is_flag=True, help="Upload without validating first.")
@client_options
@json_option
def upload(file: str, purpose: str, method: str | None, no_validate: bool, as_json: bool) -> int:
    """Upload a file, with a progress bar; prints its file id.

    A fine-tune file is validated first (as `validate` does) and not uploaded if it has
    problems (exit 1). Files over 512 MB go up in parts through the Uploads API.
    """
    if purpose == "fine-tune" and not no_validate:
        # By the data rules of the provider the file goes to (--provider).
        report = validate_file(file, method, current_settings().provider_name())
        if not report.ok:
            if as_json:
                raise CommandError(
                    f"{os.path.basename(file)}: {report.n_problems} problem(s) for {report.method}; not uploaded"
                    " (pass --no-validate to upload anyway)",
                    kind="invalid_file",
                    code="validation_failed",
                    param="FILE",
                    problems=report.as_dict()["problems"],
                )
            print_report(err_console(), report, stats=False)
            err_console().print("Not uploaded (pass --no-validate to upload anyway).")
            return EXIT_FAILED
        if not as_json:
            print_report(err_console(), report, stats=False)

    async def upload_one(client: ft.AsyncClient) -> ft.FileObject:
        (result,) = await upload_files(client, err_console(), [file], purpose=purpose, quiet=as_json)
        return result

    uploaded = run_async(upload_one)
    if as_json:
        print_json(ft.to_dict(uploaded))
    else:
        out_console().print(uploaded.id)
    return EXIT_OK
