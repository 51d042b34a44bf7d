"""Where an input model's files are: a local folder as given, else a Hub id from the local Hugging Face cache."""

from __future__ import annotations

import re
from pathlib import Path

from merges.errors import MergeError

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def resolve_folder(reference: str, label: str) -> Path:
    """A local model folder for `reference`: a path as given, else a Hub id from the local Hugging Face cache."""
    path = Path(reference).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise MergeError(f"{label}: {reference!r} is a file; give the model folder that holds it")
    if not _HUB_ID.match(reference) or reference.startswith((".", "/", "~")):
        raise MergeError(f"{label}: model folder {reference!r} does not exist")
    try:
        from huggingface_hub import snapshot_download

        return Path(
            snapshot_download(
                reference,
                allow_patterns=["*.json", "*.safetensors", "*.bin", "tokenizer*", "*.model", "*.txt", "*.jinja"],
            )
        )
    except Exception as exc:  # offline, unknown repo, gated repo: all mean "not available here"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MergeError(
            f"{label}: {reference!r} is not a local folder and could not be fetched from the Hugging Face Hub ({first})"
        ) from None
