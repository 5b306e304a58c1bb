"""The converter's contract: extras, request ids, to_dict / to_json_param, errors, unions."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from finetune_async.errors import FineTuneError
from finetune_async.models import (
    BaseModel,
    DecodeError,
    DpoHyperparameters,
    EventLevel,
    FileExpirationAfter,
    FileObject,
    FineTuningJob,
    FineTuningJobCheckpoint,
    FineTuningJobEvent,
    FineTuningJobIntegration,
    FineTuningJobWandbIntegration,
    Hyperparameters,
    Method,
    MethodType,
    ReinforcementMethod,
    StringCheckGrader,
    SupervisedHyperparameters,
    SupervisedMethod,
    ValidateGraderResponse,
    structure,
    structure_list,
    to_dict,
    to_json_param,
)
from finetune_async.models._converter import set_request_id
from finetune_async.models._converter import structure as converter_structure

from . import examples as ex


def test_single_converter_exports() -> None:
    import finetune_async.models._converter as module

    assert converter_structure is structure
    assert set(module.__all__) >= {
        "converter",
        "structure",
        "structure_list",
        "to_dict",
        "to_json_param",
        "set_request_id",
    }


# ------------------------------------------------------------------------ models are attrs


def test_models_are_frozen_slotted_keyword_only() -> None:
    event = structure(ex.EVENT_MESSAGE, FineTuningJobEvent)
    assert attrs.has(FineTuningJobEvent)
    assert not hasattr(event, "__dict__")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.id = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        FineTuningJobEvent("id", 1)  # type: ignore[call-arg]


def test_optional_fields_default_to_none_required_fields_do_not() -> None:
    event = FineTuningJobEvent(id="e", created_at=1, level=EventLevel.INFO, message="m")
    assert event.type is None
    assert event.data is None
    assert event.object == "fine_tuning.job.event"
    assert event.model_extra == {}
    with pytest.raises(TypeError):
        FineTuningJobEvent(id="e", created_at=1, level=EventLevel.INFO)  # type: ignore[call-arg]


# ---------------------------------------------------------------------------- unknown fields


def test_unknown_fields_are_kept_top_level_and_nested() -> None:
    payload: dict[str, Any] = {
        **ex.JOB_RUNNING,
        "new_top": {"a": [1, 2]},
        "hyperparameters": {**ex.JOB_RUNNING["hyperparameters"], "warmup": 0.1},
        "method": {
            "type": "supervised",
            "supervised": {"hyperparameters": {"n_epochs": 2, "new_knob": "x"}, "mode": "lora"},
            "budget": 5,
        },
    }
    job = structure(payload, FineTuningJob)
    assert job.model_extra == {"user_provided_suffix": "weather", "new_top": {"a": [1, 2]}}
    assert job.hyperparameters.model_extra == {"warmup": 0.1}
    assert job.method is not None
    assert job.method.model_extra == {"budget": 5}
    assert job.method.supervised is not None
    assert job.method.supervised.model_extra == {"mode": "lora"}
    assert job.method.supervised.hyperparameters is not None
    assert job.method.supervised.hyperparameters.model_extra == {"new_knob": "x"}
    assert to_dict(job) == payload


def test_extras_do_not_override_known_fields_in_to_dict() -> None:
    file = FileObject(
        id="file-1",
        bytes=1,
        created_at=1,
        filename="a.jsonl",
        purpose="fine-tune",  # type: ignore[arg-type]
        status="processed",  # type: ignore[arg-type]
        model_extra={"id": "spoofed", "extra": True},
    )
    out = to_dict(file)
    assert out["id"] == "file-1"
    assert out["extra"] is True


def test_extras_take_part_in_equality() -> None:
    a = structure({**ex.EVENT_MESSAGE, "x": 1}, FineTuningJobEvent)
    b = structure({**ex.EVENT_MESSAGE, "x": 2}, FineTuningJobEvent)
    assert a != b


# ------------------------------------------------------------------------------- request id


def test_request_id_is_settable_and_outside_eq_repr_to_dict() -> None:
    a = structure(ex.FILE, FileObject)
    b = structure(ex.FILE, FileObject)
    assert a.request_id is None
    assert set_request_id(a, "req_123") is a
    assert a.request_id == "req_123"
    assert a == b
    assert repr(a) == repr(b)
    assert "req_123" not in repr(a)
    assert to_dict(a) == to_dict(b)
    assert "request_id" not in to_dict(a)
    assert "_request_id" not in [f.name for f in attrs.fields(FileObject)]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        a._request_id = "other"


def test_request_id_not_copied_by_evolve() -> None:
    a = set_request_id(structure(ex.FILE, FileObject), "req_1")
    assert attrs.evolve(a, filename="b.jsonl").request_id is None


def test_set_request_id_rejects_non_models() -> None:
    with pytest.raises(TypeError):
        set_request_id({"id": 1}, "req")  # type: ignore[type-var]


# ------------------------------------------------------------------------------------ to_dict


def test_to_dict_omits_absent_fields_but_keeps_nulls() -> None:
    job = structure(ex.JOB_FAILED, FineTuningJob)
    out = to_dict(job)
    assert "method" not in out
    assert "integrations" not in out
    assert "estimated_finish" not in out
    assert out["validation_file"] is None
    assert out["error"] == ex.JOB_FAILED["error"]
    assert out == ex.JOB_FAILED


def test_to_dict_returns_fresh_containers() -> None:
    event = structure(ex.EVENT_METRICS, FineTuningJobEvent)
    out = to_dict(event)
    out["data"]["step"] = -1
    assert event.data is not None
    assert event.data["step"] == 100


def test_to_dict_of_request_side_objects() -> None:
    method = Method(
        type=MethodType.SUPERVISED,
        supervised=SupervisedMethod(hyperparameters=SupervisedHyperparameters(n_epochs=3)),
    )
    assert to_dict(method) == {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}}
    plain_type = Method(type="dpo")  # type: ignore[arg-type]
    assert to_dict(plain_type) == {"type": "dpo"}
    assert to_dict(FileExpirationAfter(seconds=3600)) == {"anchor": "created_at", "seconds": 3600}


def test_to_dict_rejects_non_models() -> None:
    with pytest.raises(TypeError):
        to_dict({"a": 1})


# ------------------------------------------------------------------------------ to_json_param


def test_to_json_param() -> None:
    plain = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}}
    assert to_json_param(plain) is plain
    assert to_json_param(None) is None
    assert to_json_param(Method(type=MethodType.DPO)) == {"type": "dpo"}
    integration = FineTuningJobIntegration(wandb=FineTuningJobWandbIntegration(project="p", tags=["t"]))
    assert to_json_param([integration, {"type": "wandb", "wandb": {"project": "q"}}]) == [
        {"type": "wandb", "wandb": {"project": "p", "tags": ["t"]}},
        {"type": "wandb", "wandb": {"project": "q"}},
    ]
    mixed = {"type": "supervised", "supervised": SupervisedMethod()}
    assert to_json_param(mixed) == {"type": "supervised", "supervised": {}}
    assert to_json_param(("a", MethodType.DPO)) == ["a", "dpo"]
    assert type(to_json_param(MethodType.DPO)) is str
    assert to_json_param("auto") == "auto"
    assert to_json_param(3) == 3


# ------------------------------------------------------------------------------ hyperparameters


@pytest.mark.parametrize(
    "payload",
    [
        {"batch_size": "auto", "learning_rate_multiplier": "auto", "n_epochs": "auto"},
        {"batch_size": 8, "learning_rate_multiplier": 0.5, "n_epochs": 4},
        {"batch_size": 8, "learning_rate_multiplier": 2, "n_epochs": "auto"},
        {"batch_size": None},
        {},
    ],
)
def test_auto_or_number_hyperparameters(payload: dict[str, Any]) -> None:
    hp = structure(payload, Hyperparameters)
    for key, value in payload.items():
        assert getattr(hp, key) == value
    assert to_dict(hp) == payload  # a null sent stays
    assert to_json_param(hp) == {k: v for k, v in payload.items() if v is not None}
    assert to_dict(structure(payload, SupervisedHyperparameters)) == payload


def test_dpo_beta() -> None:
    assert structure({"beta": "auto"}, DpoHyperparameters).beta == "auto"
    assert structure({"beta": 0.25}, DpoHyperparameters).beta == 0.25


@pytest.mark.parametrize("bad", [[1], {"a": 1}, True])
def test_bad_hyperparameter_value_is_a_decode_error(bad: Any) -> None:
    with pytest.raises(DecodeError, match=r"@ \$\.n_epochs"):
        structure({"n_epochs": bad}, Hyperparameters)


# ------------------------------------------------------------------------------------ graders


def test_grader_union_dispatches_on_type() -> None:
    method = structure(
        {"grader": {"type": "string_check", "name": "n", "input": "a", "reference": "b", "operation": "eq"}},
        ReinforcementMethod,
    )
    assert isinstance(method.grader, StringCheckGrader)


def test_unknown_grader_type_is_kept_as_dict() -> None:
    payload = {"grader": {"type": "endpoint", "name": "remote", "url": "https://example.com"}}
    response = structure(payload, ValidateGraderResponse)
    assert response.grader == payload["grader"]
    assert to_dict(response) == payload
    method = structure(payload, ReinforcementMethod)
    assert method.grader == payload["grader"]


def test_grader_instance_passes_through_to_json_param() -> None:
    grader = StringCheckGrader(name="n", input="{{sample.output_text}}", reference="x", operation="eq")
    body = to_json_param({"grader": grader, "model_sample": "x"})
    assert body == {
        "grader": {
            "type": "string_check",
            "name": "n",
            "input": "{{sample.output_text}}",
            "reference": "x",
            "operation": "eq",
        },
        "model_sample": "x",
    }


# ------------------------------------------------------------------------------------- errors


def test_missing_required_field_is_a_clear_error() -> None:
    payload = {k: v for k, v in ex.JOB_RUNNING.items() if k not in ("seed", "status")}
    with pytest.raises(DecodeError) as info:
        structure(payload, FineTuningJob)
    err = info.value
    assert isinstance(err, FineTuneError)
    assert isinstance(err, ValueError)
    assert err.model is FineTuningJob
    assert "required field missing @ $.seed" in err.errors
    assert "required field missing @ $.status" in err.errors
    assert "FineTuningJob" in str(err)


def test_nested_error_names_the_path() -> None:
    payload = {**ex.CHECKPOINT, "metrics": {"step": "not a number"}}
    with pytest.raises(DecodeError, match=r"\$\.metrics\.step"):
        structure(payload, FineTuningJobCheckpoint)
    with pytest.raises(DecodeError, match=r"\$\.metrics"):
        structure({**ex.CHECKPOINT, "metrics": None}, FineTuningJobCheckpoint)


def test_structure_list_error_names_the_index() -> None:
    bad = {k: v for k, v in ex.EVENT_MESSAGE.items() if k != "level"}
    with pytest.raises(DecodeError, match=r"required field missing @ \$\[1\]\.level"):
        structure_list([ex.EVENT_MESSAGE, bad], FineTuningJobEvent)


def test_not_an_object_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        structure(None, FineTuningJobEvent)
    with pytest.raises(DecodeError):
        structure(["a"], FineTuningJobEvent)


def test_structure_list_of_empty_page() -> None:
    assert structure_list([], FineTuningJobEvent) == []


def test_every_exported_model_derives_from_base_model() -> None:
    import finetune_async.models as models

    for name in models.__all__:
        obj = getattr(models, name)
        if isinstance(obj, type) and attrs.has(obj):
            assert issubclass(obj, BaseModel), name
            assert obj.__doc__, name
            assert not hasattr(obj, "__dict__") or "__slots__" in obj.__dict__, name


def test_every_model_has_a_generated_slot_decoder() -> None:
    """Every response and request model decodes through the fast generated decoder.

    A model that grew something the generator does not handle (a validator, a converter, a
    factory default) falls back to cattrs' function silently: this says so instead.
    """
    from finetune_async.models._converter import _is_model, _public_classes, converter

    for cls in _public_classes():
        if _is_model(cls):
            hook = converter.get_structure_hook(cls)
            assert hook.__code__.co_filename == f"<finetune_async decoder for {cls.__qualname__}>", cls


def test_generated_decoder_coerces_like_cattrs() -> None:
    """Primitive fields go through str()/int()/float() as cattrs does; absent optionals stay None."""
    event = converter_structure(
        {"id": 12, "created_at": "1721764800", "level": "info", "message": "m", "object": "fine_tuning.job.event"},
        FineTuningJobEvent,
    )
    assert event.id == "12"
    assert event.created_at == 1721764800
    assert event.type is None
    assert event.data is None
    assert event.model_extra == {}


def test_resolved_field_types_are_what_get_type_hints_gives() -> None:
    """The converter's own annotation resolution (cheaper at import) agrees with typing's."""
    import typing

    from finetune_async.models._converter import _is_model, _public_classes

    for cls in _public_classes():
        if _is_model(cls):
            hints = typing.get_type_hints(cls, include_extras=True)
            for field in attrs.fields(cls):
                assert field.type == hints[field.name], (cls, field.name)
                assert repr(field.type) == repr(hints[field.name]), (cls, field.name)
            assert cls.__attrs_types_resolved__ is cls


def test_resolve_types_leaves_the_unusual_to_attrs() -> None:
    """A class made later, with an annotation naming a class that is not there yet, or a
    nested string, still resolves (through attrs) once the names exist."""
    from finetune_async.models._converter import resolve_types

    @attrs.frozen(kw_only=True)
    class Later(BaseModel):
        items: list["int"]  # noqa: UP037 - a nested string is the point
        other: int | None = None

    resolve_types(Later)
    fields = attrs.fields(Later)
    assert fields.items.type == list[int]
    assert fields.other.type == int | None


def test_prepare_decoders_builds_the_nested_decoders_too() -> None:
    """prepare_decoders generates the decoders of the classes given and of the models inside."""
    from finetune_async.models._converter import RESPONSE_MODELS, converter, prepare_decoders

    prepare_decoders()
    prepare_decoders()  # idempotent
    for cls in (*RESPONSE_MODELS, Method, SupervisedMethod, SupervisedHyperparameters, Hyperparameters):
        hook = converter.get_structure_hook(cls)
        assert hook.__code__.co_filename == f"<finetune_async decoder for {cls.__qualname__}>", cls
    assert converter_structure(ex.JOB_PAUSED_REINFORCEMENT, FineTuningJob) == structure(
        ex.JOB_PAUSED_REINFORCEMENT, FineTuningJob
    )
