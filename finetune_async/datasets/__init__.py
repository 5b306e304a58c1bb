"""Validate, measure and split JSONL fine-tuning data, before paying for a job that would fail.

Sans-I/O: :func:`validate_lines` checks lines given to it; :func:`validate_dataset` streams a
file's lines into the same checks; :func:`split_dataset` splits a file into training and validation files.
Nothing here makes a request or downloads anything.

Decisions worth knowing:

- Whose rules: ``provider`` (default OpenAI's) picks a :class:`DataRules` profile, pure data
  (``_profiles.py``): each method's line formats, whether a file may mix them, the context
  limits, the example minimum, which statistics apply. ``"azure"`` is OpenAI's rules;
  ``"nebius"`` takes, for ``supervised`` and ``spec-draft`` alike, chat ``messages`` (roles
  system, developer, user, assistant, tool; content a string, a list or null; the last turn
  the assistant's), ``prompt``/``completion``, ``text`` and pre-tokenized ``input_ids``, one
  format per file, a context of 8,192 (default) to 131,072; its token counts are estimates and
  it has no ``epochs`` / ``billed_tokens`` (0). A line's keys say its format, in that order
  (the first present wins), as Nebius' dialect of the emulator decides.
  ``"together"`` takes, for ``supervised``, Together's chat (``conversation``: roles system,
  user, assistant, tool, each message with content (an assistant's may give ``tool_calls``
  instead), starting with system or user, user and assistant turns alternating, at least one
  assistant turn, ``weight`` 0 or 1), ``prompt``/``completion`` and ``text``, one format per
  file and per line (``ambiguous_format``: a line with both ``messages`` and ``text``), and
  for ``dpo`` OpenAI's preference lines; 1 example at least; files up to 50.1 GiB.
  ``"fireworks"`` takes OpenAI's chat (``supervised``) and preference (``dpo``) lines; 3 to
  3,000,000 examples; no file size (larger files go through a signed URL). Neither has reinforcement;
  both count tokens as estimates, have no ``epochs`` / ``billed_tokens`` and a context of 8,192
  unless ``context_limit`` gives the job's (Fireworks: at most 262,144). The file size is
  checked by :func:`validate_dataset` only (:func:`validate_lines` has no file).

- Without a method, the first line shaped like a method's example chooses it (DPO: ``input``
  with ``preferred_output``/``non_preferred_output``; supervised: ``messages`` ending with the
  assistant's answer; reinforcement: ``messages`` the model answers, with reference keys), and
  the report says so (``method_detected``, ``method_note``); lines before it are checked as
  supervised. :func:`shape_of` is that rule.

- A line ends at CR, LF or CRLF, in any mix (a CRLF split between two reads is one break);
  the first line is line 1. :func:`validate_lines` cuts each item it is given the same way: a
  break inside an item starts a new line (so a lone CR in a str or bytes item is a line break,
  not JSON whitespace), one break at its end is its ending. Unicode separators (U+2028, U+0085,
  form feed) are not line breaks: JSON strings may hold them.
- ``MAX_LINE_BYTES`` (156 MiB, 163,577,856 bytes) bounds a line: no valid example is longer.
  Images dominate: at most 10 an example, each at most 10 MB; as base64 data URLs (4/3 of the
  data, plus the prefix and the part's JSON) under 14 MiB each, 140 MiB for ten. The rest is
  text the model reads, within a training context of at most 65,536 tokens: at a generous 256
  bytes a token, 16 MiB. A longer line is reported (``line_too_long``, with its length) and
  never parsed; :func:`validate_dataset` does not even hold it (it counts its bytes and reads
  on, and reads a line that spans reads back in one piece only once it ends within the bound).
  The validator's memory thus depends on the longest line up to the bound (about twice that
  line: its text and its parsed values), never on a longer one nor on the file's size.
  ``max_line_bytes`` lowers the bound.
- Blank (whitespace-only) lines are reported (``blank_line``), not skipped: they are not
  examples and an uploaded file should not contain them. A final line ending is not a blank
  line. ``n_examples`` counts the non-blank lines, broken or not (the 10-example minimum is
  checked against it); ``stats`` describe only the lines that passed.
- Every problem of a line is reported (a line can have several), every line is checked.
  ``max_problems`` caps what the report keeps, ``n_problems`` counts them all; file-level
  problems (``line`` None) are never dropped and come first.
- JSON is strict: ``NaN`` / ``Infinity`` (which Python's ``json`` accepts) and a byte order
  mark are ``invalid_json``. orjson is used when installed, with the stdlib deciding whenever
  orjson refuses a line, so the verdict never depends on it.
- Token counts are exact (cl100k_base) only when tiktoken is installed and its encoding file
  is already cached; otherwise an estimate of ~4 characters per token (``_tokens.py``).
  Nothing is ever downloaded.
- Median and percentiles come from bounded histograms (exact below 65,536); duplicates are
  byte-identical lines, found with an 8-byte hash per example (``_stats.py``).
- Image URLs: ``https://`` or ``data:image/{jpeg,png,webp};base64,``; an https URL whose path
  ends in another image extension (.gif, .bmp, ...) is flagged, others cannot be checked
  offline. The 10 MB limit is checked for data URLs only.

Problem codes (``Problem.code``), stable:

Lines
    ``line_too_long``       longer than ``MAX_LINE_BYTES`` (or ``max_line_bytes``): not parsed
    ``invalid_utf8``        the line is not valid UTF-8
    ``invalid_json``        the line is not one JSON value (NaN/Infinity and a BOM included)
    ``blank_line``          an empty or whitespace-only line
    ``not_an_object``       the line is JSON but not an object
    ``wrong_method``        shaped like another method's example than the one checked (the
                            message says which), instead of that line's unknown keys
File (``line`` is None)
    ``method_mismatch``     every line is shaped like another method's example (or the legacy
                            prompt/completion format): the message names the method to use
    ``empty_file``          no examples at all
    ``too_few_examples``    fewer than the provider's minimum of examples (non-blank lines):
                            10 on OpenAI, Azure and Nebius, 3 on Fireworks, 1 on Together
    ``too_many_examples``   more than the provider's maximum (Fireworks: 3,000,000)
    ``file_too_large``      a file over the provider's size limit (Together: 50.1 GiB);
                            :func:`validate_dataset` only
Structure
    ``unknown_key``         a key the schema does not define (top level, message, part, tool, ...)
    ``missing_messages``    no ``messages``
    ``invalid_messages``    ``messages`` is not a list
    ``empty_messages``      ``messages`` is an empty list
    ``invalid_message``     a message is not an object
    ``missing_role``        a message without ``role``
    ``unknown_role``        a role that does not exist
    ``role_not_allowed``    a real role the method refuses (``developer`` for supervised and DPO;
                            ``system`` and ``function`` for reinforcement)
    ``missing_assistant_message``  supervised example without an assistant message
Content
    ``missing_content``     content missing or null where required (assistant: unless tool calls)
    ``invalid_content``     content (or ``refusal``) of the wrong type
    ``empty_content``       an empty list of content parts
    ``invalid_content_part``      a part that is not an object, has an unknown type, lacks its
                                  text, or is not allowed in this role (images outside user)
    ``unsupported_content_part``  audio or file parts
    ``unsupported_audio``   an assistant ``audio`` reference
    ``image_in_assistant_message``  an image part in an assistant message
    ``invalid_image_url``   not an https URL or a base64 ``data:image/...`` URL
    ``unsupported_image_format``  not JPEG, PNG or WEBP
    ``image_too_large``     a data URL image over 10 MB
    ``invalid_image_detail``      ``detail`` not auto, low or high
    ``too_many_images``     more than 10 images in one example
    ``invalid_name``        a message ``name`` that is not a string
    ``missing_name``        a (deprecated) ``function`` message without ``name``
Weights
    ``invalid_weight``      ``weight`` not 0 or 1
    ``weight_not_allowed``  ``weight`` on a non-assistant message
Tools and functions
    ``invalid_tool_call``   malformed ``tool_calls`` (id, type "function", function name/arguments)
    ``invalid_tool_arguments``    tool/function call ``arguments`` that are not valid JSON text
    ``invalid_function_call``     malformed deprecated ``function_call``
    ``missing_tool_call_id``      a tool message without a string ``tool_call_id``
    ``invalid_tool``        a tool definition that is not ``{"type": "function", "function": {...}}``
    ``invalid_function_name``     a function name outside ``[a-zA-Z0-9_-]{1,64}``
    ``invalid_function_parameters``  ``parameters`` that is not an object
    ``invalid_parallel_tool_calls``  ``parallel_tool_calls`` not a boolean
    ``invalid_functions``   deprecated ``functions`` not a list of 1-128 valid definitions
Other providers' formats (Nebius, Together)
    ``unknown_format``      a line of none of the method's formats (the message lists them)
    ``mixed_formats``       the first line whose format differs from the file's first line's
                            (once per file: the provider takes one format per file)
    ``ambiguous_format``    a line holding the keys of two formats (Together: ``messages`` and
                            ``text``, say), which the provider refuses rather than choose
    ``invalid_role_order``  a Together conversation that does not start with a system or user
                            message, has a system message after the first, or two user (or
                            two assistant) messages in a row
    ``last_message_not_assistant``  a ``messages`` line whose last turn is not the assistant's
    ``missing_prompt``      a ``prompt``/``completion`` line without its ``prompt``
    ``missing_completion``  a ``prompt``/``completion`` line without its ``completion``
    ``invalid_prompt``      ``prompt`` is not a string
    ``invalid_completion``  ``completion`` is not a string
    ``invalid_text``        ``text`` is not a string
    ``empty_text``          ``text`` is an empty string
    ``invalid_input_ids``   ``input_ids`` not a list, or an item not an integer (the first one)
    ``empty_input_ids``     ``input_ids`` is an empty list
    (``invalid_messages``, ``empty_messages``, ``invalid_message``, ``missing_role``,
    ``unknown_role``, ``role_not_allowed``, ``invalid_content`` as above; on Together also
    ``missing_content``, ``invalid_weight`` and ``missing_assistant_message``; ``role_not_allowed``
    there is ``developer`` or ``function``.)
DPO
    ``missing_input``       no ``input``
    ``invalid_input``       ``input`` is not an object
    ``missing_output``      no ``preferred_output`` / ``non_preferred_output``
    ``invalid_output``      an output that is not a list of exactly one message object
    ``output_not_assistant``      an output message whose role is not ``assistant``
    ``output_not_text``     an output with tool calls, a function call or non-text parts
"""

from ._profiles import (
    AZURE,
    FIREWORKS,
    NEBIUS,
    OPENAI,
    TOGETHER,
    ContextLimits,
    DataRules,
    LineFormat,
    data_rules_for,
    provider_names,
    register_data_rules,
)
from ._report import DatasetReport, DatasetStats, Distribution, Problem
from ._rules import LEGACY_SHAPE, MAX_LINE_BYTES, shape_of
from ._split import split_dataset
from ._validate import validate_dataset, validate_lines

__all__ = [
    "AZURE",
    "FIREWORKS",
    "LEGACY_SHAPE",
    "MAX_LINE_BYTES",
    "NEBIUS",
    "OPENAI",
    "TOGETHER",
    "ContextLimits",
    "DataRules",
    "DatasetReport",
    "DatasetStats",
    "Distribution",
    "LineFormat",
    "Problem",
    "data_rules_for",
    "provider_names",
    "register_data_rules",
    "shape_of",
    "split_dataset",
    "validate_dataset",
    "validate_lines",
]
