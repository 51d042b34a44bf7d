"""Reading input checkpoints for streaming merges: headers at once, one tensor at a time on demand.

An input is a Hugging Face folder (or a Hub id already in the local cache, `merges.source`) with safetensors
weights, sharded or not, or legacy `.bin` weights. Shapes and dtypes come from the file headers, so every
structural check runs before a single weight is read; tensors are then memory-mapped one at a time
(file-backed pages, not private memory).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from merges.errors import MergeError
from merges.formats import BIN_INDEX, BIN_SINGLE, CONFIG, SAFETENSORS_DTYPES, SAFETENSORS_INDEX, SAFETENSORS_SINGLE
from merges.source import resolve_folder


@dataclass(frozen=True)
class TensorInfo:
    """A tensor's header: enough to plan a merge without reading the data."""

    name: str
    shape: tuple[int, ...]
    dtype: torch.dtype

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


class Checkpoint:
    """One input model opened for streaming: headers read at once, tensor data on demand.

    `label` is how messages name this input (`base_model`, `models[1]`), so every error points at the config
    entry to fix.
    """

    def __init__(self, reference: str, label: str) -> None:
        self.reference = reference
        self.label = label
        self.folder = resolve_folder(reference, label)
        self.config = self._read_config()
        self.weight_files, index = self._weight_map()
        self._handles: dict[Path, Any] = {}
        self.tensors: dict[str, TensorInfo] = {}
        self._file_of: dict[str, Path] = {}
        for file in self.weight_files:
            for info in self._headers(file):
                if index is not None and index.get(info.name) != file:
                    continue  # a shard may hold a tensor the index assigns elsewhere; the index wins
                self.tensors[info.name] = info
                self._file_of[info.name] = file
        if index is not None:
            missing = sorted(set(index) - set(self.tensors))
            if missing:
                raise MergeError(
                    f"{label}: tensor {missing[0]!r} is listed in the weight index but missing from its shard "
                    f"{index[missing[0]].name}"
                )
        if not self.tensors:
            raise MergeError(f"{label}: no tensors found in {', '.join(f.name for f in self.weight_files)}")

    def _read_config(self) -> dict[str, Any]:
        file = self.folder / CONFIG
        if not file.is_file():
            raise MergeError(f"{self.label}: {str(self.folder)!r} has no config.json (expected a Hugging Face folder)")
        try:
            data = json.loads(file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise MergeError(f"{self.label}: config.json is not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise MergeError(f"{self.label}: config.json does not hold a JSON object")
        return data

    def _weight_map(self) -> tuple[list[Path], dict[str, Path] | None]:
        """The weight files, and for sharded checkpoints the index's tensor -> file map."""
        for index_name in (SAFETENSORS_INDEX, BIN_INDEX):
            index = self.folder / index_name
            if index.is_file():
                try:
                    weight_map = json.loads(index.read_text())["weight_map"]
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    raise MergeError(f"{self.label}: {index_name} is not a valid weight index ({exc!r})") from None
                files = {name: self.folder / shard for name, shard in weight_map.items()}
                for shard in sorted(set(files.values())):
                    if not shard.is_file():
                        raise MergeError(f"{self.label}: shard {shard.name} named in {index_name} is missing")
                return sorted(set(files.values())), files
        if (self.folder / SAFETENSORS_SINGLE).is_file():
            return [self.folder / SAFETENSORS_SINGLE], None
        loose = sorted(self.folder.glob("*.safetensors"))
        if loose:
            return loose, None
        if (self.folder / BIN_SINGLE).is_file():
            return [self.folder / BIN_SINGLE], None
        raise MergeError(
            f"{self.label}: {str(self.folder)!r} holds no weights (expected model.safetensors, a sharded "
            f"{SAFETENSORS_INDEX}, or {BIN_SINGLE})"
        )

    def _open(self, file: Path) -> Any:
        if file not in self._handles:
            try:
                if file.suffix == ".safetensors":
                    from safetensors import safe_open

                    self._handles[file] = safe_open(str(file), framework="pt", device="cpu")
                else:
                    self._handles[file] = _load_bin(file)
            except MergeError:
                raise
            except Exception as exc:  # truncated or corrupt files raise library-specific errors
                raise MergeError(f"{self.label}: cannot read {file.name}: {_first_line(exc)}") from None
        return self._handles[file]

    def _headers(self, file: Path) -> Iterator[TensorInfo]:
        handle = self._open(file)
        if file.suffix == ".safetensors":
            for name in handle.keys():  # noqa: SIM118 (a safetensors handle, not a dict)
                view = handle.get_slice(name)
                dtype = SAFETENSORS_DTYPES.get(view.get_dtype())
                if dtype is None:
                    raise MergeError(f"{self.label}: tensor {name!r} has unsupported dtype {view.get_dtype()}")
                yield TensorInfo(name, tuple(view.get_shape()), dtype)
        else:
            for name, tensor in handle.items():
                if isinstance(tensor, torch.Tensor):
                    yield TensorInfo(name, tuple(tensor.shape), tensor.dtype)

    def read(self, name: str) -> torch.Tensor:
        """The tensor `name` on the CPU (memory-mapped where the format allows)."""
        file = self._file_of[name]
        handle = self._open(file)
        try:
            return handle.get_tensor(name) if file.suffix == ".safetensors" else handle[name]
        except Exception as exc:
            raise MergeError(
                f"{self.label}: cannot read tensor {name!r} from {file.name}: {_first_line(exc)}"
            ) from None

    def vocab_size(self) -> int | None:
        value = self.config.get("vocab_size", (self.config.get("text_config") or {}).get("vocab_size"))
        return int(value) if isinstance(value, int) else None

    def architecture(self) -> tuple[str, tuple[str, ...]]:
        return str(self.config.get("model_type", "")), tuple(self.config.get("architectures") or ())

    def input_files(self) -> list[Path]:
        """The files this input contributes to the merge, for merge.json's sha256 record."""
        files = [self.folder / CONFIG, *self.weight_files]
        files += [self.folder / idx for idx in (SAFETENSORS_INDEX, BIN_INDEX) if (self.folder / idx).is_file()]
        return sorted(set(files))

    def close(self) -> None:
        self._handles.clear()


def _load_bin(file: Path) -> dict[str, torch.Tensor]:
    try:
        return torch.load(file, map_location="cpu", mmap=True, weights_only=True)
    except RuntimeError as exc:
        if "mmap" not in str(exc):
            raise
    # Pre-zipfile .bin files cannot be memory-mapped; they are read whole (rare, old checkpoints).
    return torch.load(file, map_location="cpu", weights_only=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
