"""``mypy --strict`` on a user's script sees the synchronous client's real types, never ``Any``.

The facade's methods are descriptors generic over each async method's parameters and result
(``finetune_async.sync._facade``): this checks, the way a user's CI would, that a type checker
reads them as the async signatures with ``await`` gone.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from mypy import api

from tests.sync.conftest import ROOT

USER_SCRIPT = textwrap.dedent(
    """
    from typing_extensions import assert_type

    import finetune_async as ft
    from finetune_async import sync

    with ft.Client(api_key="sk-test") as client:
        file = client.files.create(file=b"{}")
        job = client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=file.id)
        assert_type(job, ft.FineTuningJob)
        reveal_type(job)
        reveal_type(client.fine_tuning.jobs.wait(job.id, timeout=60))
        page = client.fine_tuning.jobs.list(limit=10)
        assert_type(page, ft.SyncPage[ft.FineTuningJob])
        for listed in page:
            assert_type(listed, ft.FineTuningJob)
        for event in client.fine_tuning.jobs.stream_events(job.id):
            reveal_type(event)
        for ckpt in client.fine_tuning.jobs.checkpoints.list(job.id):
            assert_type(ckpt, ft.FineTuningJobCheckpoint)
        perms = client.fine_tuning.checkpoints.permissions.retrieve("ft:x:ckpt-step-1")
        assert_type(perms, ft.SyncPage[ft.Permission])
        assert_type(client.models.retrieve("gpt-4o-mini"), ft.Model)
        assert_type(sync.wait_for_job(client, job.id), ft.FineTuningJob)
        for done in sync.as_completed(client, [job.id]):
            assert_type(done, ft.FineTuningJob)
        assert_type(sync.run_batch(client, [], journal=None), ft.BatchReport)
    azure = ft.Client.azure(endpoint="https://x.openai.azure.com", api_key="k")
    assert_type(azure, ft.Client)
    """
)

MISTAKES = textwrap.dedent(
    """
    import finetune_async as ft

    client = ft.Client(api_key="sk-test", max_retrys=3)
    client.fine_tuning.jobs.retrieve(42)
    client.fine_tuning.jobs.create(model="m")
    name: str = client.files.retrieve("file-x")
    """
)


def _mypy(source: str, tmp_path: Path, name: str) -> tuple[str, int]:
    script = tmp_path / f"{name}.py"
    script.write_text(source)
    out, err, status = api.run(
        ["--strict", "--no-incremental", "--cache-dir", str(tmp_path / ".mypy_cache"), str(script)]
    )
    return out + err, status


def test_mypy_strict_sees_the_real_types(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # This checkout's package, whatever the installed one is.
    monkeypatch.setenv("MYPYPATH", str(ROOT))
    out, status = _mypy(USER_SCRIPT + MISTAKES.replace("import finetune_async as ft\n", ""), tmp_path, "user")
    revealed = re.findall(r'Revealed type is "([^"]+)"', out)
    assert revealed == [
        "finetune_async.models.fine_tuning.FineTuningJob",
        "finetune_async.models.fine_tuning.FineTuningJob",
        "finetune_async.models.fine_tuning.FineTuningJobEvent",
    ], out
    errors = [line for line in out.splitlines() if ": error:" in line]
    # The script's own lines pass; each mistake of the last four lines is caught.
    assert len(errors) == 4, out
    assert 'Unexpected keyword argument "max_retrys"' in out
    assert 'incompatible type "int"; expected "str"' in out
    assert 'Missing named argument "training_file"' in out
    assert 'Incompatible types in assignment (expression has type "FileObject", variable has type "str")' in out
    assert status == 1
