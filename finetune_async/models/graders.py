"""Graders (reinforcement fine-tuning) and the alpha grader run/validate responses.

``Grader`` is the union of the grader classes, told apart by their ``type`` key. Where the
API sends a grader, the field is typed ``Grader | dict[str, Any]``: a grader whose ``type`` the
SDK does not know is kept as the plain JSON dict instead of failing the whole response.
Message content (``EvalItem.content``) stays JSON: a template string, a content part
(``{"type": "input_text", "text": ...}``, ``output_text``, ``input_image``, ``input_audio``) or a
list of them.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

import attrs

from ._base import BaseModel, extras_last

__all__ = [
    "EvalItem",
    "Grader",
    "LabelModelGrader",
    "MultiGrader",
    "PythonGrader",
    "RunGraderResponse",
    "RunGraderResponseMetadata",
    "RunGraderResponseMetadataErrors",
    "ScoreModelGrader",
    "StringCheckGrader",
    "TextSimilarityGrader",
    "ValidateGraderResponse",
]


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class EvalItem(BaseModel):
    """A message given to a model grader; ``content`` may hold ``{{item.x}}`` templates."""

    role: Literal["user", "assistant", "system", "developer"]
    content: str | dict[str, Any] | list[Any]
    type: Literal["message"] | None = None


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class StringCheckGrader(BaseModel):
    """Compares ``input`` with ``reference`` by ``operation`` (``eq``, ``ne``, ``like``, ``ilike``)."""

    type: Literal["string_check"] = "string_check"
    name: str
    input: str
    reference: str
    operation: Literal["eq", "ne", "like", "ilike"]


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class TextSimilarityGrader(BaseModel):
    """Scores ``input`` against ``reference`` by a similarity metric (BLEU, ROUGE, cosine, ...)."""

    type: Literal["text_similarity"] = "text_similarity"
    name: str
    input: str
    reference: str
    evaluation_metric: Literal[
        "cosine",
        "fuzzy_match",
        "bleu",
        "gleu",
        "meteor",
        "rouge_1",
        "rouge_2",
        "rouge_3",
        "rouge_4",
        "rouge_5",
        "rouge_l",
    ]


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class PythonGrader(BaseModel):
    """Runs the Python ``source`` (defining ``grade(sample, item)``) to score a sample."""

    type: Literal["python"] = "python"
    name: str
    source: str
    image_tag: str | None = None


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class ScoreModelGrader(BaseModel):
    """Asks ``model`` to score a sample within ``range`` (default ``[0, 1]``).

    ``sampling_params`` stays JSON: ``seed``, ``top_p``, ``temperature``,
    ``max_completions_tokens``, ``reasoning_effort``.
    """

    type: Literal["score_model"] = "score_model"
    name: str
    model: str
    input: list[EvalItem]
    range: list[float] | None = None
    sampling_params: dict[str, Any] | None = None


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class LabelModelGrader(BaseModel):
    """Asks ``model`` to pick one of ``labels``; passes when it is one of ``passing_labels``."""

    type: Literal["label_model"] = "label_model"
    name: str
    model: str
    input: list[EvalItem]
    labels: list[str]
    passing_labels: list[str]


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class MultiGrader(BaseModel):
    """Combines the result of ``graders`` with the ``calculate_output`` formula."""

    type: Literal["multi"] = "multi"
    name: str
    graders: Grader | dict[str, Any]
    calculate_output: str


Grader: TypeAlias = (
    StringCheckGrader | TextSimilarityGrader | PythonGrader | ScoreModelGrader | LabelModelGrader | MultiGrader
)
"""Any grader; the ``type`` key selects the class."""

GRADER_TYPES: dict[str, type[BaseModel]] = {
    "string_check": StringCheckGrader,
    "text_similarity": TextSimilarityGrader,
    "python": PythonGrader,
    "score_model": ScoreModelGrader,
    "label_model": LabelModelGrader,
    "multi": MultiGrader,
}


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class RunGraderResponseMetadataErrors(BaseModel):
    """Which kinds of error occurred while running a grader."""

    formula_parse_error: bool
    sample_parse_error: bool
    truncated_observation_error: bool
    unresponsive_reward_error: bool
    invalid_variable_error: bool
    other_error: bool
    python_grader_server_error: bool
    python_grader_server_error_type: str | None
    python_grader_runtime_error: bool
    python_grader_runtime_error_details: str | None
    model_grader_server_error: bool
    model_grader_refusal_error: bool
    model_grader_parse_error: bool
    model_grader_server_error_details: str | None


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class RunGraderResponseMetadata(BaseModel):
    """How a grader run went: timing, per-grader scores, token usage and errors."""

    name: str
    type: str
    errors: RunGraderResponseMetadataErrors
    execution_time: float
    scores: dict[str, Any]
    token_usage: int | None
    sampled_model_name: str | None


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class RunGraderResponse(BaseModel):
    """Result of ``fine_tuning.alpha.graders.run``: the reward and how it was computed."""

    reward: float
    metadata: RunGraderResponseMetadata
    sub_rewards: dict[str, Any]
    model_grader_token_usage_per_model: dict[str, Any]


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class ValidateGraderResponse(BaseModel):
    """Result of ``fine_tuning.alpha.graders.validate``: the grader as the API understood it."""

    grader: Grader | dict[str, Any] | None = None
