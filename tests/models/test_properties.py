"""Property tests: random schema-shaped payloads decode and round-trip through ``to_dict``.

Payloads come from ``tests.spec.strategy`` (shaped by the published spec), then some enum
values are replaced by values the SDK does not know ("paused" or random text) and unknown
keys are added at the top level and inside nested objects. The round trip must give back
the payload exactly (``to_dict``, nulls kept and absent keys absent, as the official SDK's
``to_dict()``), and the official SDK's own model of the same payload must dump the same. The
request shape (``to_json_param``) is the payload normalised by ``without_optional_nulls``:
optional fields whose value is ``null`` are left out, and a constant the schema leaves optional
(``Upload.object``) is filled in.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finetune_async.models import (
    BaseModel,
    FileObject,
    FineTuningJob,
    FineTuningJobCheckpoint,
    FineTuningJobEvent,
    Model,
    OpenStrEnum,
    Permission,
    RunGraderResponse,
    Upload,
    ValidateGraderResponse,
    structure,
    structure_list,
    to_dict,
    to_json_param,
)
from finetune_async.models._converter import converter
from tests.spec import requires_spec, strategy, validate

from ._walk import enum_type, known_keys, model_dicts, without_optional_nulls
from .test_dump import OFFICIAL, official

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SMALL = settings(SETTINGS, max_examples=30)

UNKNOWN_ENUM_VALUES = st.one_of(
    st.sampled_from(["paused", "pausing", "archived", "debug", "brand-new"]),
    st.text(min_size=1, max_size=12),
)
EXTRA_KEYS = st.text(min_size=1, max_size=8).map(lambda s: "x_" + s)
# Finite floats only: JSON has no infinities (JSON-mode dumps write them as null, which
# test_dump checks), and the round trip must give the payload back exactly.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def mutated(draw: Any, schema_name: str, cls: type[BaseModel]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(payload with unknown enum values and unknown keys, the unknown keys added at the top)."""
    payload: dict[str, Any] = copy.deepcopy(draw(strategy(schema_name)))
    top_extras: dict[str, Any] = {}
    for obj, model in list(model_dicts(payload, cls)):
        for field in attrs.fields(model):
            if enum_type(field) is not None and isinstance(obj.get(field.name), str) and draw(st.booleans()):
                obj[field.name] = draw(UNKNOWN_ENUM_VALUES)
        if draw(st.booleans()):
            extras = draw(st.dictionaries(EXTRA_KEYS, JSON_VALUES, min_size=1, max_size=3))
            obj.update(extras)
            if obj is payload:
                top_extras = extras
    return payload, top_extras


# cattrs' own generated decoders (the converter with detailed validation, as used to explain
# errors): the fast decoders generated in _converter.py must give exactly what these give.
REFERENCE = converter.copy(detailed_validation=True)


def _check_round_trip(payload: dict[str, Any], cls: type[BaseModel]) -> BaseModel:
    obj = structure(payload, cls)
    assert isinstance(obj, cls)
    assert obj == REFERENCE.structure(payload, cls)
    assert to_dict(obj) == payload
    assert obj.to_dict() == payload
    assert json.loads(obj.to_json()) == payload
    assert to_json_param(obj) == without_optional_nulls(payload, cls)
    dumped = obj.model_dump(mode="json")
    assert json.loads(obj.model_dump_json()) == dumped
    # Python mode keeps what was decoded (an infinite float too; JSON mode writes null for it).
    assert structure(obj.model_dump(), cls) == obj
    assert obj.model_fields_set == set(payload)
    if cls in OFFICIAL:
        theirs = official(payload, cls)
        assert theirs.to_dict() == payload
        # (exclude_none is compared on the curated examples of test_dump only: the official
        # models type a few free-form objects, grader sampling_params, as models.)
        assert obj.model_dump(mode="json", exclude_unset=True) == theirs.model_dump(
            mode="json", exclude_unset=True, by_alias=True
        )
    # Enum fields hold enum instances (known or not) equal to the sent string.
    for field in attrs.fields(cls):
        if enum_type(field) is not None and payload.get(field.name) is not None:
            value = getattr(obj, field.name)
            assert isinstance(value, OpenStrEnum)
            assert value == payload[field.name]
    return obj


def _check_mutated(case: tuple[dict[str, Any], dict[str, Any]], cls: type[BaseModel]) -> None:
    payload, top_extras = case
    obj = _check_round_trip(payload, cls)
    assert obj.model_extra == top_extras
    assert set(obj.model_extra).isdisjoint(known_keys(cls))


@requires_spec
@SETTINGS
@given(case=mutated("FineTuningJob", FineTuningJob))
def test_job_round_trip(case: tuple[dict[str, Any], dict[str, Any]]) -> None:
    _check_mutated(case, FineTuningJob)


@requires_spec
@SETTINGS
@given(case=mutated("FineTuningJobEvent", FineTuningJobEvent))
def test_event_round_trip(case: tuple[dict[str, Any], dict[str, Any]]) -> None:
    _check_mutated(case, FineTuningJobEvent)


@requires_spec
@SETTINGS
@given(case=mutated("FineTuningJobCheckpoint", FineTuningJobCheckpoint))
def test_checkpoint_round_trip(case: tuple[dict[str, Any], dict[str, Any]]) -> None:
    _check_mutated(case, FineTuningJobCheckpoint)


@requires_spec
@SETTINGS
@given(case=mutated("OpenAIFile", FileObject))
def test_file_round_trip(case: tuple[dict[str, Any], dict[str, Any]]) -> None:
    _check_mutated(case, FileObject)


@requires_spec
@SMALL
@given(
    case=st.sampled_from(
        [
            ("Upload", Upload),
            ("FineTuningCheckpointPermission", Permission),
            ("Model", Model),
            ("RunGraderResponse", RunGraderResponse),
            ("ValidateGraderResponse", ValidateGraderResponse),
        ]
    ).flatmap(lambda pair: st.tuples(st.just(pair[1]), mutated(*pair)))
)
def test_other_responses_round_trip(case: tuple[type[BaseModel], tuple[dict[str, Any], dict[str, Any]]]) -> None:
    cls, mutated_case = case
    _check_mutated(mutated_case, cls)


@requires_spec
@SMALL
@given(page=strategy("ListFineTuningJobEventsResponse"))
def test_event_page_decodes_and_validates(page: dict[str, Any]) -> None:
    events = structure_list(page["data"], FineTuningJobEvent)
    assert [e.id for e in events] == [item["id"] for item in page["data"]]
    for event in events:
        validate(to_dict(event), "FineTuningJobEvent")


@requires_spec
@SMALL
@given(payload=strategy("FineTuningJob"))
def test_unmutated_job_to_dict_validates(payload: dict[str, Any]) -> None:
    validate(to_dict(structure(payload, FineTuningJob)), "FineTuningJob")
