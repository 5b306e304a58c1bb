"""The official SDK's methods on our models: ``model_dump``, ``model_dump_json``, ``to_dict``, ``to_json``.

Each realistic payload is decoded by us and by the official ``openai`` package (``construct``,
as its client does with responses); both must give the same dumps. Extras read as attributes,
copies keep what a dump needs, and enums show their value.
"""

from __future__ import annotations

import copy
import json
import math
import pickle
from typing import Any

import attrs
import openai.types as oa
import openai.types.fine_tuning as oa_ft
import openai.types.fine_tuning.alpha as oa_alpha
import openai.types.fine_tuning.checkpoints as oa_ckpt
import openai.types.fine_tuning.jobs as oa_jobs
import openai.types.graders as oa_graders
import openai.types.uploads as oa_uploads
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import finetune_async as ft
from finetune_async.models import (
    BaseModel,
    EventType,
    FileExpirationAfter,
    FileObject,
    FineTuningJob,
    FineTuningJobEvent,
    JobStatus,
    Method,
    MethodType,
    SupervisedHyperparameters,
    SupervisedMethod,
    structure,
    to_json_param,
)
from finetune_async.models._converter import set_request_id
from tests.ids import stable_repr

from . import examples as ex
from .test_examples import ALL_EXAMPLES

# Our class -> the official SDK's class for the same schema.
OFFICIAL: dict[type[BaseModel], type[Any]] = {
    ft.FileObject: oa.FileObject,
    ft.FileDeleted: oa.FileDeleted,
    ft.Upload: oa.Upload,
    ft.UploadPart: oa_uploads.UploadPart,
    ft.FineTuningJob: oa_ft.FineTuningJob,
    ft.FineTuningJobEvent: oa_ft.FineTuningJobEvent,
    ft.FineTuningJobCheckpoint: oa_jobs.FineTuningJobCheckpoint,
    ft.PermissionDeleted: oa_ckpt.PermissionDeleteResponse,
    ft.Permission: oa_ckpt.PermissionCreateResponse,
    ft.Model: oa.Model,
    ft.ModelDeleted: oa.ModelDeleted,
    ft.RunGraderResponse: oa_alpha.GraderRunResponse,
    ft.ValidateGraderResponse: oa_alpha.GraderValidateResponse,
    ft.LabelModelGrader: oa_graders.LabelModelGrader,
    ft.TextSimilarityGrader: oa_graders.TextSimilarityGrader,
}

# Payloads with unknown fields (top level and nested), nulls and absent optional fields.
EXTRA_EXAMPLES: list[tuple[str, dict[str, Any], type[BaseModel]]] = [
    (
        "JOB_WITH_EXTRAS",
        {
            **ex.JOB_RUNNING,
            "new_top": {"a": [1, None]},
            "nullable_new": None,
            "hyperparameters": {"n_epochs": 2, "warmup": 0.1},
        },
        FineTuningJob,
    ),
    ("EVENT_NULLS", {**ex.EVENT_MESSAGE, "type": None, "data": None}, FineTuningJobEvent),
    ("FILE_NO_OPTIONALS", {k: v for k, v in ex.FILE.items() if k not in ("expires_at", "status_details")}, FileObject),
]

EVERY = ALL_EXAMPLES + EXTRA_EXAMPLES
CASES = [case for case in EVERY if case[2] in OFFICIAL]
IDS = [case[0] for case in CASES]


def official(payload: dict[str, Any], cls: type[BaseModel]) -> Any:
    return OFFICIAL[cls].construct(**copy.deepcopy(payload))


def fields_set(theirs: Any) -> set[str]:
    """An official model's set fields by their API names, its extras included (as pydantic's validation does)."""
    fields = type(theirs).model_fields
    return {fields[name].alias or name for name in theirs.model_fields_set} | set(theirs.model_extra or {})


def agree(ours: Any, theirs: Any) -> None:
    """Full dumps agree: same values on common keys; a key only one side models is an unset None."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        for key in ours.keys() | theirs.keys():
            if key in ours and key in theirs:
                agree(ours[key], theirs[key])
            else:
                assert (ours if key in ours else theirs)[key] is None, key
    elif isinstance(ours, list) and isinstance(theirs, list):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs, strict=True):
            agree(a, b)
    else:
        assert ours == theirs


@pytest.mark.parametrize(("name", "payload", "cls"), CASES, ids=IDS)
def test_dumps_agree_with_the_official_sdk(name: str, payload: dict[str, Any], cls: type[BaseModel]) -> None:
    ours, theirs = structure(payload, cls), official(payload, cls)
    # to_dict / to_json: exactly the JSON that came, nulls kept and absent keys absent.
    assert ours.to_dict() == theirs.to_dict() == payload
    assert ours.to_dict(mode="json") == payload
    assert json.loads(ours.to_json()) == json.loads(theirs.to_json()) == payload
    assert ours.to_dict(exclude_none=True) == theirs.to_dict(exclude_none=True)
    # The official models name a few fields differently from the API (``model_*`` is reserved by
    # pydantic) with the API's name as alias: ours are the API's names, so compare by alias.
    assert ours.model_dump(exclude_unset=True) == theirs.model_dump(exclude_unset=True, by_alias=True)
    assert ours.model_dump(mode="json", exclude_unset=True, exclude_none=True) == theirs.model_dump(
        mode="json", exclude_unset=True, exclude_none=True, by_alias=True
    )
    agree(ours.model_dump(), theirs.model_dump(by_alias=True))
    agree(ours.model_dump(mode="json"), theirs.model_dump(mode="json", by_alias=True))
    agree(json.loads(ours.model_dump_json()), json.loads(theirs.model_dump_json(by_alias=True)))
    assert ours.model_fields_set == fields_set(theirs)
    # ft.to_dict is the same JSON shape.
    assert ft.to_dict(ours) == ours.to_dict() == payload


@pytest.mark.parametrize(("name", "payload", "cls"), EVERY, ids=[e[0] for e in EVERY])
def test_json_dumps_parse_back_to_the_json_mode_dump(name: str, payload: dict[str, Any], cls: type[BaseModel]) -> None:
    obj = structure(payload, cls)
    for kwargs in ({}, {"exclude_unset": True}, {"exclude_none": True}, {"exclude_defaults": True}):
        assert json.loads(obj.model_dump_json(**kwargs)) == obj.model_dump(mode="json", **kwargs)
        assert obj.model_dump(**kwargs) == obj.model_dump(mode="json", **kwargs)
    assert structure(obj.model_dump(), cls) == obj
    assert structure(obj.to_dict(), cls) == obj


def test_sent_nulls_stay_and_absent_fields_stay_absent() -> None:
    event = structure({**ex.EVENT_MESSAGE, "type": None, "data": None}, FineTuningJobEvent)
    assert event.to_dict()["type"] is None
    assert event.to_dict()["data"] is None
    assert ft.to_dict(event) == {**ex.EVENT_MESSAGE, "type": None, "data": None}
    warn = structure(ex.EVENT_WARN_NO_TYPE, FineTuningJobEvent)
    assert "type" not in warn.to_dict()
    assert "data" not in ft.to_dict(warn)
    assert warn.model_dump()["type"] is None  # exclude_unset=False: every field
    assert warn.model_fields_set == set(ex.EVENT_WARN_NO_TYPE)
    job = structure(ex.JOB_SUCCEEDED_DPO, FineTuningJob)
    assert ft.to_dict(job) == ex.JOB_SUCCEEDED_DPO  # "integrations": null etc. stay


def test_hand_built_objects_dump_what_was_given() -> None:
    ours = SupervisedHyperparameters(n_epochs=3)
    theirs = oa_ft.SupervisedHyperparameters(n_epochs=3)
    assert ours.to_dict() == theirs.to_dict() == {"n_epochs": 3}
    assert ours.model_dump() == theirs.model_dump()
    assert ours.model_fields_set == theirs.model_fields_set == {"n_epochs"}
    method = Method(type=MethodType.SUPERVISED, supervised=SupervisedMethod(hyperparameters=ours))
    assert method.to_dict() == {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}}
    # A request parameter built from a decoded object does not send back the nulls it came with.
    decoded = structure({"type": "supervised", "supervised": None, "dpo": None}, Method)
    assert decoded.to_dict() == {"type": "supervised", "supervised": None, "dpo": None}
    assert to_json_param(decoded) == {"type": "supervised"}


def test_python_mode_keeps_enum_members_json_mode_gives_strings() -> None:
    job = structure(ex.JOB_RUNNING, FineTuningJob)
    assert type(job.model_dump()["status"]) is JobStatus
    assert type(job.to_dict()["status"]) is JobStatus
    assert type(job.model_dump(mode="json")["status"]) is str
    assert type(ft.to_dict(job)["status"]) is str
    assert type(ft.to_dict(job)["method"]["type"]) is str
    paused = structure({**ex.EVENT_MESSAGE, "type": "brand_new"}, FineTuningJobEvent)
    assert type(paused.model_dump()["type"]) is EventType
    assert type(paused.model_dump(mode="json")["type"]) is str


def test_dumps_are_fresh_containers() -> None:
    event = structure(ex.EVENT_METRICS, FineTuningJobEvent)
    for out in (event.model_dump(), event.to_dict(), ft.to_dict(event)):
        out["data"]["step"] = -1
    assert event.data is not None
    assert event.data["step"] == 100


def test_json_text_format() -> None:
    obj = FileExpirationAfter(seconds=3600)
    assert obj.model_dump_json() == '{"anchor":"created_at","seconds":3600}'
    assert obj.model_dump_json(indent=2) == obj.to_json() == '{\n  "anchor": "created_at",\n  "seconds": 3600\n}'
    assert obj.to_json(indent=None) == obj.model_dump_json()
    payload = {**ex.EVENT_MESSAGE, "message": "é ✓", "data": {"x": math.nan, "y": [math.inf]}}
    odd = structure(payload, FineTuningJobEvent)
    theirs = oa_ft.FineTuningJobEvent.construct(**copy.deepcopy(payload))
    # Non-ASCII as is, non-finite floats as null: what pydantic writes.
    assert '"é ✓"' in odd.model_dump_json()
    assert json.loads(odd.model_dump_json()) == json.loads(theirs.model_dump_json())
    assert odd.model_dump(mode="json")["data"] == {"x": None, "y": [None]}
    assert "\\u00e9" in odd.model_dump_json(ensure_ascii=True)


INCLUDE_EXCLUDE: list[dict[str, Any]] = [
    {"include": {"id", "status"}},
    {"include": ["id", "user_provided_suffix"]},
    {"exclude": {"integrations", "method", "user_provided_suffix"}},
    {"include": {"hyperparameters": {"n_epochs"}, "result_files": {0}}},
    {"include": {"integrations": {"__all__": {"type"}}}},
    {"include": {"integrations": {0: True}, "id": ...}},
    {"include": {"metadata": {"customer"}}},
    {"exclude": {"integrations": {"__all__": {"wandb": {"tags"}}}, "hyperparameters": {"n_epochs": True}}},
    {"exclude": {"id": False, "status": True}},
    {"include": {"integrations", "hyperparameters"}, "exclude": {"hyperparameters": {"batch_size"}}},
]


@pytest.mark.parametrize("spec", INCLUDE_EXCLUDE, ids=stable_repr)
@pytest.mark.parametrize("exclude_unset", [False, True])
def test_include_and_exclude_as_pydantic(spec: dict[str, Any], exclude_unset: bool) -> None:
    ours, theirs = structure(ex.JOB_RUNNING, FineTuningJob), official(ex.JOB_RUNNING, FineTuningJob)
    expected = theirs.model_dump(mode="json", exclude_unset=exclude_unset, **spec)
    got = ours.model_dump(mode="json", exclude_unset=exclude_unset, **spec)
    if exclude_unset:
        assert got == expected
    else:
        agree(got, expected)
    assert json.loads(ours.model_dump_json(exclude_unset=exclude_unset, **spec)) == got


_FILTER_PAYLOAD: dict[str, Any] = {
    **EXTRA_EXAMPLES[0][1],
    "result_files": ["file-a", "file-b", "file-c"],
    "integrations": [*ex.JOB_RUNNING["integrations"], {"type": "wandb", "wandb": {"project": "p", "tags": ["t"]}}],
}
_INDEX = st.integers(-4, 4) | st.just("__all__")
_WANDB = st.sets(st.sampled_from(["project", "tags", "run_id"])).map(lambda keys: {"wandb": keys})
_NESTED = st.fixed_dictionaries(
    {},
    optional={
        "hyperparameters": st.sets(st.sampled_from(["batch_size", "n_epochs", "warmup"])),
        "integrations": st.dictionaries(_INDEX, st.just(True) | st.sets(st.just("type")) | _WANDB, max_size=3),
        "result_files": st.dictionaries(_INDEX, st.just(True), max_size=3),
        "metadata": st.sets(st.sampled_from(["customer", "run", "nope"])),
        "id": st.just(True),
        "new_top": st.just(True),
    },
)
_FILTERS = st.one_of(st.none(), st.sets(st.sampled_from(sorted(_FILTER_PAYLOAD))), _NESTED)


@settings(max_examples=80, deadline=None, database=None)
@given(include=_FILTERS, exclude=_FILTERS)
def test_random_include_exclude_as_pydantic(include: Any, exclude: Any) -> None:
    ours, theirs = structure(_FILTER_PAYLOAD, FineTuningJob), official(_FILTER_PAYLOAD, FineTuningJob)
    got = ours.model_dump(mode="json", exclude_unset=True, include=include, exclude=exclude)
    assert got == theirs.model_dump(mode="json", exclude_unset=True, include=include, exclude=exclude)


def test_exclude_defaults() -> None:
    obj = FileExpirationAfter(seconds=3600)
    assert obj.model_dump(exclude_defaults=True) == {"seconds": 3600}
    event = structure(ex.EVENT_WARN_NO_TYPE, FineTuningJobEvent)
    assert event.model_dump(exclude_defaults=True) == {k: v for k, v in ex.EVENT_WARN_NO_TYPE.items() if k != "object"}


def test_bad_arguments() -> None:
    job = structure(ex.JOB_FAILED, FineTuningJob)
    with pytest.raises(ValueError, match="mode"):
        job.model_dump(mode="xml")
    with pytest.raises(TypeError):
        job.model_dump("json")  # type: ignore[misc]  # keyword-only, as pydantic
    with pytest.raises(TypeError):
        job.to_dict(nonsense=True)  # type: ignore[call-arg]
    # Accepted for drop-in compatibility; they change nothing on these models.
    assert (
        job.model_dump(by_alias=True, round_trip=True, warnings="none", context={}, serialize_as_any=True)
        == job.model_dump()
    )
    assert job.to_dict(use_api_names=False, warnings=False) == job.to_dict()


def test_unserialisable_values_in_json_mode() -> None:
    odd = FineTuningJobEvent(id="e", created_at=1, level="info", message="m", data={"when": object()})  # type: ignore[arg-type]
    assert odd.model_dump()["data"]["when"] is odd.data["when"]  # type: ignore[index]
    with pytest.raises(TypeError, match="object"):
        odd.model_dump(mode="json")
    assert odd.model_dump(mode="json", fallback=lambda v: "x")["data"] == {"when": "x"}


# ------------------------------------------------------------------------ unknown fields as attributes


def test_unknown_fields_read_as_attributes() -> None:
    job = structure(EXTRA_EXAMPLES[0][1], FineTuningJob)
    assert job.user_provided_suffix == "weather"  # type: ignore[attr-defined]
    assert job.new_top == {"a": [1, None]}  # type: ignore[attr-defined]
    assert job.nullable_new is None  # type: ignore[attr-defined]
    assert job.hyperparameters.warmup == 0.1  # type: ignore[attr-defined]
    assert job.integrations is not None
    assert job.integrations[0].wandb is not None
    assert job.integrations[0].wandb.run_id == "ftjob-abc123"  # type: ignore[attr-defined]
    assert hasattr(job, "new_top")
    assert "new_top" in job.to_dict()
    assert "new_top" in job.model_dump()


def test_missing_attribute_is_an_attribute_error_naming_class_and_name() -> None:
    job = structure(ex.JOB_FAILED, FineTuningJob)
    assert not hasattr(job, "nope")
    with pytest.raises(AttributeError, match=r"^'FineTuningJob' object has no attribute 'nope'$") as info:
        job.nope  # type: ignore[attr-defined]  # noqa: B018
    assert info.value.name == "nope"
    assert info.value.obj is job


def test_known_names_win_and_private_names_are_not_served() -> None:
    job = structure({**ex.JOB_FAILED, "to_dict": 1, "_secret": 2, "__class__": 3}, FineTuningJob)
    assert callable(job.to_dict)
    assert job.model_extra == {"to_dict": 1, "_secret": 2, "__class__": 3}
    assert job.__class__ is FineTuningJob
    assert not hasattr(job, "_secret")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        job.new_field = 1  # type: ignore[attr-defined]


def test_copies_and_pickles_keep_dumps_and_request_id() -> None:
    event = set_request_id(structure(ex.EVENT_WARN_NO_TYPE, FineTuningJobEvent), "req_1")
    built = SupervisedHyperparameters(n_epochs=3)
    for original in (event, built, structure(EXTRA_EXAMPLES[0][1], FineTuningJob)):
        for clone in (copy.copy(original), copy.deepcopy(original), pickle.loads(pickle.dumps(original))):
            assert clone == original
            assert clone.to_dict() == original.to_dict()
            assert clone.model_fields_set == original.model_fields_set
            assert clone.request_id == original.request_id
    assert pickle.loads(pickle.dumps(event)).request_id == "req_1"
    # evolve builds a new object: every field it was given counts as set, nulls excepted.
    assert attrs.evolve(event, message="x").to_dict() == {**ex.EVENT_WARN_NO_TYPE, "message": "x"}


# ----------------------------------------------------------------------------------------- enums


def test_enum_displays_as_its_value() -> None:
    assert repr(JobStatus.RUNNING) == "'running'"
    assert repr(JobStatus("pausing")) == "'pausing'"
    job = structure(ex.JOB_RUNNING, FineTuningJob)
    assert "status='running'" in repr(job)
    assert "type='supervised'" in repr(job.method)


def test_enum_in_ipython_pretty_printer() -> None:
    pretty = pytest.importorskip("IPython.lib.pretty")
    assert pretty.pretty(JobStatus.RUNNING) == "'running'"
    assert "status='running'" in pretty.pretty(structure(ex.JOB_RUNNING, FineTuningJob))
