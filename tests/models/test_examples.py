"""Decoding real-looking payloads of every response schema, and what the decoded models hold."""

from __future__ import annotations

from typing import Any

import pytest

from finetune_async.models import (
    CheckpointMetrics,
    DpoMethod,
    EvalItem,
    EventLevel,
    EventType,
    FileDeleted,
    FileObject,
    FilePurpose,
    FileStatus,
    FineTuningJob,
    FineTuningJobCheckpoint,
    FineTuningJobError,
    FineTuningJobEvent,
    FineTuningJobIntegration,
    FineTuningJobWandbIntegration,
    JobStatus,
    LabelModelGrader,
    MethodType,
    Model,
    ModelDeleted,
    MultiGrader,
    Permission,
    PermissionDeleted,
    PythonGrader,
    ReinforcementHyperparameters,
    RunGraderResponse,
    RunGraderResponseMetadataErrors,
    ScoreModelGrader,
    StringCheckGrader,
    SupervisedHyperparameters,
    TextSimilarityGrader,
    Upload,
    UploadPart,
    UploadStatus,
    ValidateGraderResponse,
    structure,
    structure_list,
    to_dict,
    to_json_param,
)
from finetune_async.models._base import BaseModel
from finetune_async.models._converter import converter

from . import examples as ex
from ._walk import without_optional_nulls

REFERENCE = converter.copy(detailed_validation=True)

ALL_EXAMPLES: list[tuple[str, dict[str, Any], type[BaseModel]]] = [
    ("FILE", ex.FILE, FileObject),
    ("FILE_DELETED", ex.FILE_DELETED, FileDeleted),
    ("UPLOAD_PENDING", ex.UPLOAD_PENDING, Upload),
    ("UPLOAD_COMPLETED", ex.UPLOAD_COMPLETED, Upload),
    ("UPLOAD_PART", ex.UPLOAD_PART, UploadPart),
    ("JOB_RUNNING", ex.JOB_RUNNING, FineTuningJob),
    ("JOB_SUCCEEDED_DPO", ex.JOB_SUCCEEDED_DPO, FineTuningJob),
    ("JOB_FAILED", ex.JOB_FAILED, FineTuningJob),
    ("JOB_PAUSED_REINFORCEMENT", ex.JOB_PAUSED_REINFORCEMENT, FineTuningJob),
    ("EVENT_MESSAGE", ex.EVENT_MESSAGE, FineTuningJobEvent),
    ("EVENT_METRICS", ex.EVENT_METRICS, FineTuningJobEvent),
    ("EVENT_WARN_NO_TYPE", ex.EVENT_WARN_NO_TYPE, FineTuningJobEvent),
    ("CHECKPOINT", ex.CHECKPOINT, FineTuningJobCheckpoint),
    ("PERMISSION_DELETED", ex.PERMISSION_DELETED, PermissionDeleted),
    ("MODEL", ex.MODEL, Model),
    ("MODEL_WITH_SHUTDOWN", ex.MODEL_WITH_SHUTDOWN, Model),
    ("MODEL_DELETED", ex.MODEL_DELETED, ModelDeleted),
    ("RUN_GRADER_RESPONSE", ex.RUN_GRADER_RESPONSE, RunGraderResponse),
    ("VALIDATE_GRADER_RESPONSE", ex.VALIDATE_GRADER_RESPONSE, ValidateGraderResponse),
    ("VALIDATE_GRADER_RESPONSE_PYTHON", ex.VALIDATE_GRADER_RESPONSE_PYTHON, ValidateGraderResponse),
    ("LABEL_MODEL_GRADER", ex.LABEL_MODEL_GRADER, LabelModelGrader),
    ("TEXT_SIMILARITY_GRADER", ex.TEXT_SIMILARITY_GRADER, TextSimilarityGrader),
]


@pytest.mark.parametrize(("name", "payload", "cls"), ALL_EXAMPLES, ids=[e[0] for e in ALL_EXAMPLES])
def test_example_round_trips(name: str, payload: dict[str, Any], cls: type[BaseModel]) -> None:
    obj = structure(payload, cls)
    assert isinstance(obj, cls)
    assert to_dict(obj) == payload  # nulls sent stay, absent keys stay absent
    assert to_json_param(obj) == without_optional_nulls(payload, cls)
    assert structure(to_dict(obj), cls) == obj
    # The generated fast decoder agrees with cattrs' own generated function.
    assert REFERENCE.structure(payload, cls) == obj


def test_file() -> None:
    f = structure(ex.FILE, FileObject)
    assert f.id == "file-abc123"
    assert f.bytes == 120000
    assert f.purpose == "fine-tune"
    assert f.purpose is FilePurpose.FINE_TUNE
    assert f.status is FileStatus.PROCESSED
    assert f.expires_at == 1680202602
    assert f.status_details is None
    assert f.model_extra == {}


def test_upload_with_nested_file() -> None:
    pending = structure(ex.UPLOAD_PENDING, Upload)
    assert pending.status is UploadStatus.PENDING
    assert pending.file is None
    done = structure(ex.UPLOAD_COMPLETED, Upload)
    assert done.status == "completed"
    assert isinstance(done.file, FileObject)
    assert done.file.id == "file-xyz321"
    assert done.file.expires_at is None


def test_upload_part() -> None:
    part = structure(ex.UPLOAD_PART, UploadPart)
    assert (part.id, part.upload_id, part.object) == ("part_def456", "upload_abc123", "upload.part")


def test_running_job_with_method_integrations_metadata() -> None:
    job = structure(ex.JOB_RUNNING, FineTuningJob)
    assert job.status == "running"
    assert job.status is JobStatus.RUNNING
    assert job.error is None
    assert job.fine_tuned_model is None
    assert job.finished_at is None
    assert job.hyperparameters.batch_size == "auto"
    assert job.method is not None
    assert job.method.type is MethodType.SUPERVISED
    assert job.method.supervised is not None
    assert job.method.supervised.hyperparameters == SupervisedHyperparameters(
        batch_size="auto", learning_rate_multiplier="auto", n_epochs="auto"
    )
    assert job.integrations == [
        FineTuningJobIntegration(
            type="wandb",
            wandb=FineTuningJobWandbIntegration(
                project="my-wandb-project",
                tags=["openai/finetune", "openai/gpt-4o-mini", "openai/ftjob-abc123"],
                model_extra={"run_id": "ftjob-abc123"},
            ),
        )
    ]
    assert job.metadata == {"customer": "acme", "run": "nightly"}
    assert job.model_extra == {"user_provided_suffix": "weather"}
    assert job.estimated_finish == 1721768400


def test_required_nullable_fields_are_written_as_null() -> None:
    out = to_dict(structure(ex.JOB_RUNNING, FineTuningJob))
    for key in ("error", "fine_tuned_model", "finished_at", "trained_tokens"):
        assert key in out
        assert out[key] is None


def test_succeeded_dpo_job_numbers() -> None:
    job = structure(ex.JOB_SUCCEEDED_DPO, FineTuningJob)
    assert job.status is JobStatus.SUCCEEDED
    assert job.hyperparameters.n_epochs == 3
    assert job.hyperparameters.learning_rate_multiplier == 1.8
    assert job.integrations is None
    assert job.metadata is None
    assert job.method is not None
    assert isinstance(job.method.dpo, DpoMethod)
    assert job.method.dpo.hyperparameters is not None
    assert job.method.dpo.hyperparameters.beta == 0.1
    assert job.result_files == ["file-res789"]
    assert job.trained_tokens == 5768


def test_failed_job_error() -> None:
    job = structure(ex.JOB_FAILED, FineTuningJob)
    assert job.status is JobStatus.FAILED
    assert job.error == FineTuningJobError(
        code="invalid_training_file",
        message="The training file has fewer than 10 examples.",
        param="training_file",
    )
    assert job.method is None
    assert job.hyperparameters.batch_size is None


def test_paused_reinforcement_job_with_nested_graders() -> None:
    job = structure(ex.JOB_PAUSED_REINFORCEMENT, FineTuningJob)
    assert job.status == "paused"
    assert job.status is JobStatus.PAUSED
    assert job.method is not None
    assert job.method.reinforcement is not None
    grader = job.method.reinforcement.grader
    assert isinstance(grader, MultiGrader)
    inner = grader.graders
    assert isinstance(inner, ScoreModelGrader)
    assert inner.range == [0.0, 1.0]
    assert inner.sampling_params == {"temperature": 0, "seed": 1, "reasoning_effort": "low"}
    assert inner.input[0] == EvalItem(role="system", content="Score the answer from 0 to 1.", type="message")
    assert isinstance(inner.input[1].content, list)
    assert inner.input[1].content[1]["type"] == "input_image"
    hp = job.method.reinforcement.hyperparameters
    assert hp == ReinforcementHyperparameters(
        batch_size="auto",
        learning_rate_multiplier="auto",
        n_epochs=2,
        reasoning_effort="medium",
        compute_multiplier=1.5,
        eval_interval="auto",
        eval_samples=4,
    )
    assert job.metadata == {}


def test_events() -> None:
    events = structure_list([ex.EVENT_MESSAGE, ex.EVENT_METRICS, ex.EVENT_WARN_NO_TYPE], FineTuningJobEvent)
    message, metrics, warn = events
    assert message.type is EventType.MESSAGE
    assert message.data == {}
    assert metrics.type is EventType.METRICS
    assert metrics.level is EventLevel.INFO
    assert metrics.data is not None
    assert metrics.data["step"] == 100
    assert metrics.data["full_valid_loss"] is None  # nulls inside free-form data are kept
    assert warn.level == "warn"
    assert warn.type is None
    assert warn.data is None
    assert "type" not in to_dict(warn)


def test_event_data_is_a_copy() -> None:
    payload = {**ex.EVENT_METRICS, "data": dict(ex.EVENT_METRICS["data"])}
    event = structure(payload, FineTuningJobEvent)
    payload["data"]["step"] = -1
    assert event.data is not None
    assert event.data["step"] == 100


def test_checkpoint() -> None:
    ckpt = structure(ex.CHECKPOINT, FineTuningJobCheckpoint)
    assert ckpt.step_number == 2000
    assert ckpt.metrics == CheckpointMetrics(
        full_valid_loss=0.134,
        full_valid_mean_token_accuracy=0.874,
        step=2000.0,
        train_loss=0.05,
        train_mean_token_accuracy=0.98,
        valid_loss=0.12,
        valid_mean_token_accuracy=0.9,
    )


def test_permission_list_page() -> None:
    perms = structure_list(ex.PERMISSION_LIST["data"], Permission)
    assert [p.id for p in perms] == ["cp_zc4Q7MP6XxulcVzj4MZdwsAB", "cp_enQCFmOTGj3syEpYVhBRLTSy"]
    assert perms[0].project_id == "proj_abGMw1llN8IrBb6SvvY5A1iH"
    assert perms[0].object == "checkpoint.permission"
    deleted = structure(ex.PERMISSION_DELETED, PermissionDeleted)
    assert deleted.deleted is True


def test_models() -> None:
    model = structure(ex.MODEL, Model)
    assert model.owned_by == "acemeco"
    assert model.shutdown_date is None
    assert structure(ex.MODEL_WITH_SHUTDOWN, Model).shutdown_date == "2026-09-28"
    assert structure(ex.MODEL_DELETED, ModelDeleted).deleted is True


def test_run_grader_response() -> None:
    result = structure(ex.RUN_GRADER_RESPONSE, RunGraderResponse)
    assert result.reward == 1.0
    assert result.metadata.type == "score_model"
    assert result.metadata.token_usage == 324
    assert isinstance(result.metadata.errors, RunGraderResponseMetadataErrors)
    assert result.metadata.errors.python_grader_server_error_type is None
    assert result.model_grader_token_usage_per_model["gpt-4o-2024-08-06"]["total_tokens"] == 324
    out = to_dict(result)
    # Required nullable fields of nested objects stay as null.
    assert out["metadata"]["errors"]["model_grader_server_error_details"] is None


def test_validate_grader_responses() -> None:
    checked = structure(ex.VALIDATE_GRADER_RESPONSE, ValidateGraderResponse)
    assert checked.grader == StringCheckGrader(
        name="Example string check grader",
        input="{{sample.output_text}}",
        reference="{{item.label}}",
        operation="eq",
    )
    py = structure(ex.VALIDATE_GRADER_RESPONSE_PYTHON, ValidateGraderResponse)
    assert isinstance(py.grader, PythonGrader)
    assert py.grader.image_tag == "2025-05-08"
    assert structure({}, ValidateGraderResponse).grader is None
