"""The shared ``tests/spec.py`` helper: locating the spec, validators, path matching, strategies."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings

from finetune_async.models import (
    FineTuningJobIntegration,
    FineTuningJobWandbIntegration,
    Method,
    MethodType,
    SupervisedHyperparameters,
    SupervisedMethod,
    to_json_param,
)
from tests import spec
from tests.spec import requires_spec

from . import examples as ex

REPO_ROOT = Path(__file__).resolve().parents[2]


def _import_spec_with(env_dir: str) -> str:
    code = "import tests.spec as s; print(s.SPEC_AVAILABLE); print(s.SKIP_REASON)"
    env = {**os.environ, "FINETUNE_ASYNC_SPEC_DIR": env_dir}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True
    )
    return result.stdout


def test_missing_spec_dir_gives_a_clear_skip_reason(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    out = _import_spec_with(str(missing))
    assert out.splitlines()[0] == "False"
    assert str(missing / "openai-fine-tuning.yaml") in out
    assert "FINETUNE_ASYNC_SPEC_DIR" in out


@requires_spec
def test_env_var_selects_the_spec_dir() -> None:
    out = _import_spec_with(str(spec.SPEC_DIR))
    assert out.splitlines()[0] == "True"


@requires_spec
@pytest.mark.parametrize(
    ("method", "path", "template"),
    [
        ("POST", "/fine_tuning/jobs", "/fine_tuning/jobs"),
        ("GET", "/fine_tuning/jobs?limit=2&after=ftjob-1", "/fine_tuning/jobs"),
        ("GET", "/v1/fine_tuning/jobs/ftjob-abc", "/fine_tuning/jobs/{fine_tuning_job_id}"),
        ("POST", "/fine_tuning/jobs/ftjob-abc/cancel", "/fine_tuning/jobs/{fine_tuning_job_id}/cancel"),
        ("POST", "/fine_tuning/jobs/ftjob-abc/pause", "/fine_tuning/jobs/{fine_tuning_job_id}/pause"),
        ("GET", "/fine_tuning/jobs/ftjob-abc/events", "/fine_tuning/jobs/{fine_tuning_job_id}/events"),
        ("GET", "/files/file-1/content", "/files/{file_id}/content"),
        ("DELETE", "/files/file-1", "/files/{file_id}"),
        (
            "DELETE",
            "/fine_tuning/checkpoints/ft:gpt-4o-mini:org::ckpt-step-1/permissions/cp_1",
            "/fine_tuning/checkpoints/{fine_tuned_model_checkpoint}/permissions/{permission_id}",
        ),
        ("GET", "/models/ft:gpt-4o-mini:acme:suffix:abc123", "/models/{model}"),
        ("POST", "/fine_tuning/alpha/graders/run", "/fine_tuning/alpha/graders/run"),
        ("GET", "/openai/v1/files", "/files"),
    ],
)
def test_match_path(method: str, path: str, template: str) -> None:
    assert spec.match_path(method, path) == template


@requires_spec
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nope"), ("PUT", "/fine_tuning/jobs"), ("GET", "/fine_tuning/jobs/a/b/c"), ("DELETE", "/uploads")],
)
def test_match_path_none(method: str, path: str) -> None:
    assert spec.match_path(method, path) is None


@requires_spec
def test_nullable_is_honoured() -> None:
    body: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "training_file": "file-abc",
        "validation_file": None,
        "suffix": None,
        "seed": None,
        "integrations": None,
        "metadata": None,
    }
    spec.validate_request_body("POST", "/fine_tuning/jobs", body)
    with pytest.raises(jsonschema.ValidationError):
        spec.validate_request_body("POST", "/fine_tuning/jobs", {**body, "training_file": None})
    # allOf [$ref, {nullable: true}]
    spec.validate({**ex.UPLOAD_PENDING, "file": None}, "Upload")
    assert spec.schema("Upload")["properties"]["file"]["anyOf"][1] == {"type": "null"}


@requires_spec
def test_exclusive_minimum_is_converted() -> None:
    spec.validate({"learning_rate_multiplier": 0.01}, "FineTuneSupervisedHyperparameters")
    with pytest.raises(jsonschema.ValidationError):
        spec.validate({"learning_rate_multiplier": 0}, "FineTuneSupervisedHyperparameters")


@requires_spec
def test_request_built_from_models_validates() -> None:
    body = {
        "model": "gpt-4o-mini-2024-07-18",
        "training_file": "file-abc",
        "method": to_json_param(
            Method(
                type=MethodType.SUPERVISED,
                supervised=SupervisedMethod(hyperparameters=SupervisedHyperparameters(n_epochs=3)),
            )
        ),
        "integrations": to_json_param([FineTuningJobIntegration(wandb=FineTuningJobWandbIntegration(project="p"))]),
        "metadata": {"k": "v"},
    }
    spec.validate_request_body("POST", "/fine_tuning/jobs", body)


@requires_spec
def test_validate_response() -> None:
    template = spec.match_path("GET", "/fine_tuning/jobs/ftjob-abc")
    assert template is not None
    spec.validate_response("GET", template, 200, ex.JOB_RUNNING)
    spec.validate_response(
        "GET",
        "/fine_tuning/jobs/{fine_tuning_job_id}/events",
        "200",
        {
            "object": "list",
            "data": [ex.EVENT_MESSAGE, ex.EVENT_METRICS],
            "has_more": False,
        },
    )
    with pytest.raises(jsonschema.ValidationError):
        spec.validate_response("GET", template, 200, {"id": "ftjob-abc"})


@requires_spec
def test_operation_lookup_errors() -> None:
    with pytest.raises(KeyError):
        spec.validate_request_body("POST", "/not/a/path", {})
    with pytest.raises(KeyError):
        spec.validate_request_body("PATCH", "/fine_tuning/jobs", {})
    with pytest.raises(LookupError, match="multipart/form-data"):
        spec.validate_request_body("POST", "/files", {})
    with pytest.raises(LookupError, match="no request body"):
        spec.validate_request_body("GET", "/fine_tuning/jobs", {})
    with pytest.raises(LookupError, match="404"):
        spec.validate_response("GET", "/fine_tuning/jobs", 404, {})
    spec.validate_request_body(
        "POST", "/files", {"file": "x", "purpose": "fine-tune"}, content_type="multipart/form-data"
    )


@requires_spec
def test_schema_is_self_contained() -> None:
    import json

    for name in spec.iter_schema_names():
        assert "$ref" not in json.dumps(spec.schema(name)), name
    job = spec.schema("FineTuningJob")
    job["mutated"] = True
    assert "mutated" not in spec.schema("FineTuningJob")


@requires_spec
def test_operation_schema() -> None:
    assert spec.operation_schema("POST", "/fine_tuning/jobs")["required"] == ["model", "training_file"]
    assert spec.operation_schema("GET", "/models/{model}", status=200)["title"] == "Model"


@requires_spec
@settings(max_examples=25, deadline=None, database=None)
@given(data=spec.strategy("CreateFineTuningJobRequest"))
def test_strategy_generates_valid_requests(data: Any) -> None:
    spec.validate_request_body("POST", "/fine_tuning/jobs", data)
