"""Forward-compatible enums: unknown values decode, compare as strings, are cached and round-trip."""

from __future__ import annotations

import copy
import json
import pickle

import pytest

from finetune_async.models import (
    EventLevel,
    EventType,
    FilePurpose,
    FileStatus,
    FineTuningJobEvent,
    JobStatus,
    MethodType,
    OpenStrEnum,
    UploadStatus,
    structure,
    to_dict,
)

from . import examples as ex

ALL_ENUMS: list[type[OpenStrEnum]] = [
    JobStatus,
    EventLevel,
    EventType,
    MethodType,
    FilePurpose,
    FileStatus,
    UploadStatus,
]


def test_job_status_values() -> None:
    assert {s.value for s in JobStatus} == {
        "pending",
        "validating_files",
        "queued",
        "running",
        "succeeded",
        "failed",
        "cancelled",
        "paused",
    }
    assert JobStatus("paused") is JobStatus.PAUSED


@pytest.mark.parametrize("enum_cls", ALL_ENUMS, ids=lambda c: c.__name__)
def test_known_values_are_members(enum_cls: type[OpenStrEnum]) -> None:
    for member in enum_cls:
        assert enum_cls(member.value) is member
        assert member == member.value
        assert member.is_known
        assert str(member) == member.value
        assert f"{member}" == member.value


@pytest.mark.parametrize("enum_cls", ALL_ENUMS, ids=lambda c: c.__name__)
def test_unknown_value_is_a_cached_pseudo_member(enum_cls: type[OpenStrEnum]) -> None:
    value = f"brand_new_{enum_cls.__name__.lower()}"
    unknown = enum_cls(value)
    assert isinstance(unknown, enum_cls)
    assert isinstance(unknown, str)
    assert unknown not in list(enum_cls)
    assert value not in enum_cls.__members__
    assert not unknown.is_known
    assert unknown == value
    assert value == unknown
    assert hash(unknown) == hash(value)
    assert {value: 1}[unknown] == 1
    assert unknown.value == value
    assert str(unknown) == value
    assert f"{unknown:>30}" == f"{value:>30}"
    assert enum_cls(value) is unknown
    assert value in repr(unknown)
    assert len(list(enum_cls)) == len(enum_cls.__members__)


def test_unknown_members_survive_copy_pickle_and_json() -> None:
    unknown = JobStatus("pausing")
    assert copy.deepcopy(unknown) is unknown
    assert pickle.loads(pickle.dumps(unknown)) is unknown
    assert json.dumps({"status": unknown}) == '{"status": "pausing"}'


def test_plain_strings_compare_with_members() -> None:
    running: JobStatus = JobStatus("running")
    assert running == "running"
    assert running != "queued"
    assert "running" in {JobStatus.RUNNING}
    assert JobStatus.RUNNING in ("running", "queued")


def test_non_string_is_rejected() -> None:
    with pytest.raises(ValueError, match="is not a valid"):
        JobStatus(3)


def test_unknown_enum_value_decodes_and_round_trips() -> None:
    payload = {**ex.EVENT_METRICS, "level": "debug", "type": "hyperparameter_search"}
    event = structure(payload, FineTuningJobEvent)
    assert isinstance(event.level, EventLevel)
    assert event.level == "debug"
    assert event.level not in list(EventLevel)
    assert event.type == "hyperparameter_search"
    out = to_dict(event)
    assert out["level"] == "debug"
    assert type(out["level"]) is str
    assert type(out["type"]) is str
    assert out == payload
    again = structure(payload, FineTuningJobEvent)
    assert again.level is event.level


def test_to_dict_writes_plain_strings_for_known_members() -> None:
    out = to_dict(structure(ex.EVENT_MESSAGE, FineTuningJobEvent))
    assert type(out["level"]) is str
    assert type(out["type"]) is str
