"""``to_dict`` of every model validates against its schema in the published spec."""

from __future__ import annotations

from typing import Any

import attrs
import jsonschema
import pytest

import finetune_async.models as models
from finetune_async.models import (
    BaseModel,
    DpoHyperparameters,
    DpoMethod,
    EvalItem,
    FileExpirationAfter,
    FineTuningJobIntegration,
    FineTuningJobWandbIntegration,
    LabelModelGrader,
    Method,
    MethodType,
    MultiGrader,
    PythonGrader,
    ReinforcementHyperparameters,
    ReinforcementMethod,
    ScoreModelGrader,
    StringCheckGrader,
    SupervisedHyperparameters,
    SupervisedMethod,
    TextSimilarityGrader,
    structure,
    to_dict,
)
from tests.spec import requires_spec, validate

from . import examples as ex
from .test_examples import ALL_EXAMPLES

# The spec schema each model class is the shape of.
SCHEMA_OF: dict[type[BaseModel], str] = {
    models.FileObject: "OpenAIFile",
    models.FileDeleted: "DeleteFileResponse",
    models.FileExpirationAfter: "FileExpirationAfter",
    models.Upload: "Upload",
    models.UploadPart: "UploadPart",
    models.FineTuningJob: "FineTuningJob",
    models.FineTuningJobEvent: "FineTuningJobEvent",
    models.FineTuningJobCheckpoint: "FineTuningJobCheckpoint",
    models.FineTuningJobIntegration: "FineTuningIntegration",
    models.Method: "FineTuneMethod",
    models.SupervisedMethod: "FineTuneSupervisedMethod",
    models.SupervisedHyperparameters: "FineTuneSupervisedHyperparameters",
    models.DpoMethod: "FineTuneDPOMethod",
    models.DpoHyperparameters: "FineTuneDPOHyperparameters",
    models.ReinforcementMethod: "FineTuneReinforcementMethod",
    models.ReinforcementHyperparameters: "FineTuneReinforcementHyperparameters",
    models.Permission: "FineTuningCheckpointPermission",
    models.PermissionDeleted: "DeleteFineTuningCheckpointPermissionResponse",
    models.StringCheckGrader: "GraderStringCheck",
    models.TextSimilarityGrader: "GraderTextSimilarity",
    models.PythonGrader: "GraderPython",
    models.ScoreModelGrader: "GraderScoreModel",
    models.LabelModelGrader: "GraderLabelModel",
    models.MultiGrader: "GraderMulti",
    models.EvalItem: "EvalItem",
    models.RunGraderResponse: "RunGraderResponse",
    models.ValidateGraderResponse: "ValidateGraderResponse",
    models.Model: "Model",
    models.ModelDeleted: "DeleteModelResponse",
}
# Inline objects of a parent schema: validated as part of their parent.
NESTED_ONLY = {
    models.FineTuningJobError: models.FineTuningJob,
    models.Hyperparameters: models.FineTuningJob,
    models.FineTuningJobWandbIntegration: models.FineTuningJobIntegration,
    models.CheckpointMetrics: models.FineTuningJobCheckpoint,
    models.RunGraderResponseMetadata: models.RunGraderResponse,
    models.RunGraderResponseMetadataErrors: models.RunGraderResponse,
}

#: Models of a provider's own answers, which OpenAI's spec has no schema for (Azure's
#: checkpoint copy, in its camelCase).
PROVIDER_ONLY = {models.CheckpointCopy, models.FineTuningJobMetrics}

SCORE_GRADER = ScoreModelGrader(
    name="judge",
    model="gpt-4o-2024-08-06",
    input=[
        EvalItem(role="developer", content="Score it.", type="message"),
        EvalItem(role="user", content=[{"type": "input_text", "text": "{{sample.output_text}}"}]),
    ],
    range=[0, 10],
    sampling_params={"temperature": 0.2, "max_completions_tokens": 100},
)

# Hand-built objects, as callers pass them in requests.
BUILT: list[BaseModel] = [
    FileExpirationAfter(seconds=86400),
    Method(
        type=MethodType.SUPERVISED,
        supervised=SupervisedMethod(
            hyperparameters=SupervisedHyperparameters(batch_size="auto", learning_rate_multiplier=0.3, n_epochs=4)
        ),
    ),
    Method(type=MethodType.DPO, dpo=DpoMethod(hyperparameters=DpoHyperparameters(beta=0.2))),
    Method(
        type=MethodType.REINFORCEMENT,
        reinforcement=ReinforcementMethod(
            grader=SCORE_GRADER,
            hyperparameters=ReinforcementHyperparameters(reasoning_effort="high", eval_samples=3),
        ),
    ),
    SupervisedMethod(),
    FineTuningJobIntegration(wandb=FineTuningJobWandbIntegration(project="p", name="run", tags=["a"])),
    StringCheckGrader(name="exact", input="{{sample.output_text}}", reference="{{item.answer}}", operation="ilike"),
    TextSimilarityGrader(name="sim", input="a", reference="b", evaluation_metric="rouge_l"),
    PythonGrader(name="py", source="def grade(sample, item):\n    return 1\n"),
    SCORE_GRADER,
    LabelModelGrader(
        name="label",
        model="gpt-4o-mini",
        input=[EvalItem(role="user", content="{{item.text}}")],
        labels=["a", "b"],
        passing_labels=["a"],
    ),
    MultiGrader(
        name="multi",
        graders=StringCheckGrader(name="s", input="a", reference="b", operation="eq"),
        calculate_output="s",
    ),
]


# Examples of what the API really sends that the spec does not allow.
SPEC_DEVIATIONS: dict[str, str] = {
    "FILE": "files report status_details: null; the spec says string",
    "JOB_PAUSED_REINFORCEMENT": "the spec's status enum has no paused",
}


def _instances(obj: Any) -> list[BaseModel]:
    """``obj`` and every model nested in it."""
    if isinstance(obj, BaseModel):
        found = [obj]
        for field in attrs.fields(type(obj)):
            if field.name != "model_extra":
                found += _instances(getattr(obj, field.name))
        return found
    if isinstance(obj, list):
        return [inner for item in obj for inner in _instances(item)]
    return []


def _decoded_examples() -> list[BaseModel]:
    decoded = [structure(payload, cls) for name, payload, cls in ALL_EXAMPLES if name not in SPEC_DEVIATIONS]
    decoded += [structure(item, models.Permission) for item in ex.PERMISSION_LIST["data"]]
    return decoded


def test_every_model_class_has_a_schema_or_a_parent() -> None:
    exported = {
        getattr(models, name)
        for name in models.__all__
        if isinstance(getattr(models, name), type) and attrs.has(getattr(models, name))
    }
    exported.discard(BaseModel)
    assert exported == set(SCHEMA_OF) | set(NESTED_ONLY) | PROVIDER_ONLY


@requires_spec
@pytest.mark.parametrize(("name", "payload", "cls"), ALL_EXAMPLES, ids=[e[0] for e in ALL_EXAMPLES])
def test_examples_and_their_to_dict_validate(name: str, payload: dict[str, Any], cls: type[BaseModel]) -> None:
    out = to_dict(structure(payload, cls))
    if name == "JOB_PAUSED_REINFORCEMENT":
        out["status"] = "running"
    if name == "FILE":
        del out["status_details"]  # the API's null, written back as it came
    validate(out, SCHEMA_OF[cls])
    if name not in SPEC_DEVIATIONS:
        validate(payload, SCHEMA_OF[cls])


@requires_spec
@pytest.mark.parametrize("obj", BUILT, ids=lambda o: type(o).__name__)
def test_built_objects_validate(obj: BaseModel) -> None:
    validate(to_dict(obj), SCHEMA_OF[type(obj)])


@requires_spec
def test_every_nested_model_validates_against_its_own_schema() -> None:
    seen: set[type[BaseModel]] = set()
    for top in [*_decoded_examples(), *BUILT]:
        for obj in _instances(top):
            seen.add(type(obj))
            if type(obj) in SCHEMA_OF:
                validate(to_dict(obj), SCHEMA_OF[type(obj)])
    assert seen == set(SCHEMA_OF) | set(NESTED_ONLY)


@requires_spec
def test_invalid_to_dict_is_caught() -> None:
    # The validator is not vacuous: a wrong shape fails.
    out = to_dict(structure(ex.CHECKPOINT, models.FineTuningJobCheckpoint))
    del out["step_number"]
    with pytest.raises(jsonschema.ValidationError):
        validate(out, "FineTuningJobCheckpoint")
