"""Captions -> token ids with special tokens, truncated to a limit with a warning.

Two back ends: a `tokenizer.json` read by the `tokenizers` package (the packaged MiniLM; no
transformers at run time) and a transformers tokenizer directory (umT5; transformers is imported only
then). Both encode without truncation first, so an over-long caption is reported with its length.
"""

import warnings
from pathlib import Path
from typing import Sequence


class Tokenizer:
    """Base: subclasses provide `_encode` (no truncation) and `_truncated` (cut to a limit)."""

    pad_id: int = 0

    def _encode(self, captions: list[str]) -> list[list[int]]:
        raise NotImplementedError

    def _truncated(self, caption: str, limit: int) -> list[int]:
        raise NotImplementedError

    def __call__(self, captions: Sequence[str], limit: int) -> list[list[int]]:
        """Token ids per caption (special tokens included), at most `limit` each."""
        if isinstance(captions, str):
            raise TypeError("captions must be a list of strings, got one string; wrap it in a list")
        ids = self._encode(list(captions))
        for i, caption_ids in enumerate(ids):
            if len(caption_ids) > limit:
                warnings.warn(
                    f"caption {i} ({captions[i][:40]!r}...) has {len(caption_ids)} tokens, more than the limit of "
                    f"{limit}; it is truncated to {limit} tokens",
                    stacklevel=3,  # point at the caller of TextEncoder.encode
                )
                ids[i] = self._truncated(captions[i], limit)
        return ids


class JsonTokenizer(Tokenizer):
    """A `tokenizer.json` (e.g. BERT WordPiece) through the `tokenizers` package."""

    def __init__(self, directory: str | Path):
        from tokenizers import Tokenizer as RustTokenizer

        file = Path(directory) / "tokenizer.json"
        if not file.is_file():
            raise FileNotFoundError(f"{file}: tokenizer file not found")
        self._full = RustTokenizer.from_file(str(file))
        padding = self._full.padding
        self.pad_id = padding["pad_id"] if padding else 0
        self._full.no_truncation()  # the file may carry its own truncation/padding; we do both ourselves
        self._full.no_padding()
        self._cut = RustTokenizer.from_file(str(file))
        self._cut.no_padding()

    def _encode(self, captions):
        return [e.ids for e in self._full.encode_batch(captions)]

    def _truncated(self, caption, limit):
        self._cut.enable_truncation(limit)
        return self._cut.encode(caption).ids


class TransformersTokenizer(Tokenizer):
    """A tokenizer directory read by transformers' AutoTokenizer (e.g. the umT5 SentencePiece one)."""

    def __init__(self, directory: str | Path):
        if not Path(directory).is_dir():
            raise FileNotFoundError(f"{directory}: tokenizer directory not found")
        from transformers import AutoTokenizer

        self._tok = AutoTokenizer.from_pretrained(str(directory))
        self.pad_id = self._tok.pad_token_id or 0

    def _encode(self, captions):
        return self._tok(captions, add_special_tokens=True)["input_ids"]

    def _truncated(self, caption, limit):
        return self._tok(caption, add_special_tokens=True, truncation=True, max_length=limit)["input_ids"]
