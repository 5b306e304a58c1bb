"""Token counting: exact with tiktoken when its cl100k_base file is already on disk, else an estimate.

Never downloads anything. tiktoken's own loader fetches a missing encoding file from the
internet, so it is not used: this module looks for the file in the cache directories tiktoken
uses (``$TIKTOKEN_CACHE_DIR``, else ``$DATA_GYM_CACHE_DIR``, else ``~/.cache/tiktoken`` and
``<tempdir>/data-gym-cache``), under the sha1 of the blob URL (both the ``https://`` and the
older ``az://`` spelling), checks its sha256, and builds the ``tiktoken.Encoding`` itself.

The estimate (used otherwise) is OpenAI's rule of thumb of about 4 characters per token for
ASCII text, plus half a token per extra UTF-8 byte of non-ASCII characters (so CJK text counts
about 1.25 tokens per character, accented Latin barely more than ASCII). It only looks at string
lengths, so it costs next to nothing; a word- or punctuation-aware estimate would scan every
string again and halve the validator's throughput.

Example accounting (cl100k chat format, as in OpenAI's cookbook): 3 tokens per message, the
tokens of every string value (a role counts 1), 1 more for a ``name``, and 3 per example.
Content parts count their text; an image counts 85 tokens with ``detail: "low"`` and 765
otherwise (a 1024x1024 image at high detail). Tool calls count their id, function name and
arguments; ``tools`` / ``functions`` definitions count the tokens of their compact JSON.
Assistant tokens are the tokens of assistant ``content`` only.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable
from typing import Any

from ._json import compact_dumps

__all__ = [
    "ESTIMATE",
    "TIKTOKEN_CL100K",
    "TokenCounter",
    "estimate_tokens",
    "find_cl100k_file",
    "get_token_counter",
]

ESTIMATE = "estimate"
TIKTOKEN_CL100K = "tiktoken:cl100k_base"

_CL100K_URLS = (
    "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
    "az://openaipublic/encodings/cl100k_base.tiktoken",
)
_CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d9c93d8d0d4fd7e6c4ad5d1a3"
_CL100K_PAT = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
_CL100K_SPECIAL = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
TOKENS_PER_EXAMPLE = 3
TOKENS_PER_ROLE = 1
IMAGE_TOKENS_LOW = 85
IMAGE_TOKENS_HIGH = 765


def estimate_tokens(text: str) -> int:
    """Estimated cl100k tokens of ``text``: ~4 ASCII characters per token, see the module doc."""
    n = len(text)
    if text.isascii():
        return (n + 3) >> 2
    extra = len(text.encode("utf-8", "surrogatepass")) - n
    return (n + 2 * extra + 3) >> 2


def _cache_dirs() -> list[str]:
    for var in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if var in os.environ:
            value = os.environ[var]
            return [value] if value else []
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return [os.path.join(xdg, "tiktoken"), os.path.join(tempfile.gettempdir(), "data-gym-cache")]


def find_cl100k_file() -> str | None:
    """The path of a locally cached, intact cl100k_base BPE file, or None. Never downloads."""
    for directory in _cache_dirs():
        for url in _CL100K_URLS:
            candidate = os.path.join(directory, hashlib.sha1(url.encode()).hexdigest())
            try:
                with open(candidate, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            if hashlib.sha256(data).hexdigest() == _CL100K_SHA256:
                return candidate
    return None


class TokenCounter:
    """Counts tokens of strings and of whole examples.

    ``method`` is ``"tiktoken:cl100k_base"`` or ``"estimate"``. Build one with
    :func:`get_token_counter`.
    """

    __slots__ = ("count", "is_estimate", "method")

    def __init__(self, count: Callable[[str], int], method: str) -> None:
        self.count = count
        self.method = method
        # The estimate is inlined in the hot loop (see _measure.py) when this is true.
        self.is_estimate = count is estimate_tokens

    def messages(self, messages: Iterable[dict[str, Any]]) -> tuple[int, int]:
        """(tokens, assistant content tokens) of already validated messages, without the
        per-example overhead."""
        count = self.count
        total = 0
        assistant = 0
        for m in messages:
            total += TOKENS_PER_MESSAGE
            is_assistant = m.get("role") == "assistant"
            for key, value in m.items():
                if key == "role":
                    total += TOKENS_PER_ROLE
                elif type(value) is str:
                    n = count(value)
                    total += n
                    if key == "content":
                        if is_assistant:
                            assistant += n
                    elif key == "name":
                        total += TOKENS_PER_NAME
                elif key == "content" and type(value) is list:
                    n = self._parts(value)
                    total += n
                    if is_assistant:
                        assistant += n
                elif key == "tool_calls" and type(value) is list:
                    for call in value:
                        total += count(call["id"])
                        fn = call["function"]
                        total += count(fn["name"]) + count(fn["arguments"])
                elif key == "function_call" and type(value) is dict:
                    total += count(value["name"]) + count(value["arguments"])
        return total, assistant

    def _parts(self, parts: list[Any]) -> int:
        count = self.count
        n = 0
        for part in parts:
            kind = part["type"]
            if kind == "text":
                n += count(part["text"])
            elif kind == "refusal":
                n += count(part["refusal"])
            elif kind == "image_url":
                detail = part["image_url"].get("detail")
                n += IMAGE_TOKENS_LOW if detail == "low" else IMAGE_TOKENS_HIGH
        return n

    def definitions(self, value: object) -> int:
        """Tokens of a ``tools`` or ``functions`` list, counted on its compact JSON."""
        try:
            text = compact_dumps(value)
        except (ValueError, TypeError, RecursionError):
            return 0
        return self.count(text)


@functools.lru_cache(maxsize=1)
def _tiktoken_count() -> Callable[[str], int] | None:
    """A cl100k token-counting function, or None (no tiktoken, or no cached file). Cached."""
    try:
        import tiktoken  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    path = find_cl100k_file()
    if path is None:
        return None
    try:
        ranks: dict[bytes, int] = {}
        with open(path, "rb") as f:
            for raw in f:
                if raw.strip():
                    token, rank = raw.split()
                    ranks[base64.b64decode(token)] = int(rank)
        enc = tiktoken.Encoding(
            name="cl100k_base",
            pat_str=_CL100K_PAT,
            mergeable_ranks=ranks,
            special_tokens=_CL100K_SPECIAL,
        )
    except Exception:  # a broken cache or an incompatible tiktoken: fall back to the estimate
        return None
    encode = enc.encode_ordinary

    def count(text: str) -> int:
        try:
            return len(encode(text))
        except Exception:  # e.g. lone surrogates tiktoken refuses: estimate this one string
            return estimate_tokens(text)

    return count


def get_token_counter(*, exact: bool = True) -> TokenCounter:
    """A new counter: exact with tiktoken if available offline (and ``exact``), else the estimate."""
    if exact:
        count = _tiktoken_count()
        if count is not None:
            return TokenCounter(count, TIKTOKEN_CL100K)
    return TokenCounter(estimate_tokens, ESTIMATE)
