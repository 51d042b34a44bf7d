"""Checkpoint I/O for streaming merges: read one tensor at a time, write safetensors shards as they fill.

Reading: a Hugging Face folder (or a Hub id already in the local cache) with safetensors weights, sharded or
not, or legacy `.bin` weights. Shapes and dtypes come from the file headers, so every structural check runs
before a single weight is read; tensors are then memory-mapped one at a time (file-backed pages, not private
memory).

Writing: because every output shape and dtype is known before the merge starts, the safetensors headers can be
written up front and each tensor's bytes appended the moment it is computed. Peak memory is then a few
tensors, not a shard or a model. Files go into a temporary folder that is renamed into place when complete.
"""

from __future__ import annotations

import hashlib
import json
import queue
import re
import shutil
import struct
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import torch

from merges.errors import MergeError

SAFETENSORS_INDEX = "model.safetensors.index.json"
SAFETENSORS_SINGLE = "model.safetensors"
BIN_INDEX = "pytorch_model.bin.index.json"
BIN_SINGLE = "pytorch_model.bin"
CONFIG = "config.json"
# Files besides the weights that make a folder loadable: model config, generation defaults and tokenizer.
SIDE_FILES = re.compile(
    r"^(config\.json|generation_config\.json|tokenizer.*|special_tokens_map\.json|added_tokens\.json|"
    r"vocab\.(json|txt)|merges\.txt|chat_template\.(jinja|json)|.*\.model)$"
)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

SAFETENSORS_DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
_DTYPE_CODES = {dtype: code for code, dtype in SAFETENSORS_DTYPES.items()}


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


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class OutputTensor:
    name: str
    dtype: torch.dtype
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        n = torch.empty((), dtype=self.dtype).element_size()
        for d in self.shape:
            n *= d
        return n


class ShardedSafetensorsWriter:
    """Writes tensors, in a fixed order planned up front, into safetensors shards of at most `max_shard_size`.

    Each shard's header (names, dtypes, shapes, offsets) is written when the shard is opened; each `write` then
    appends one tensor's bytes, piece by piece. A tensor larger than the limit gets a shard of its own. One shard
    is named `model.safetensors`; several are `model-0000i-of-0000N.safetensors` with an index. The bytes go to
    disk on a background thread, so the next piece is computed while the kernel copies the last one.
    """

    def __init__(self, folder: Path, tensors: Sequence[OutputTensor], max_shard_size: int) -> None:
        self.folder = folder
        self.shards = _split(tensors, max_shard_size)
        total = len(self.shards)
        self.names = [
            SAFETENSORS_SINGLE if total == 1 else f"model-{i + 1:05d}-of-{total:05d}.safetensors" for i in range(total)
        ]
        self._order = [(shard_index, t) for shard_index, shard in enumerate(self.shards) for t in shard]
        self._position = 0
        self._open_shard = -1
        self._io = _WriteThread()
        self.total_size = sum(t.nbytes for t in tensors)

    def write(self, name: str, parts: Iterable[torch.Tensor]) -> None:
        """Append tensor `name` (the next one planned) from its row-major pieces, each queued as it arrives."""
        shard_index, expected = self._order[self._position]
        if name != expected.name:
            raise RuntimeError(f"write order broken: got {name}, planned {expected.name}")
        if shard_index != self._open_shard:
            if self._open_shard >= 0:
                self._io.close_file()
            self._io.open_file(self.folder / self.names[shard_index], _header(self.shards[shard_index]))
            self._open_shard = shard_index
        written = 0
        for part in parts:
            if part.dtype != expected.dtype:
                raise RuntimeError(f"{name}: got {part.dtype}, planned {expected.dtype}")
            data = part.detach().to("cpu").contiguous()
            if data.numel():
                self._io.write(data)
            written += data.numel() * data.element_size()
        if written != expected.nbytes:
            raise RuntimeError(f"{name}: wrote {written} bytes, planned {expected.nbytes}")
        self._position += 1

    def close(self) -> list[str]:
        """Finish: check every planned tensor was written, write the index when sharded; return the file names."""
        if self._position != len(self._order):
            self.abort()
            raise RuntimeError(f"{len(self._order) - self._position} planned tensors were not written")
        self._io.finish()
        if len(self.names) > 1:
            weight_map = {t.name: self.names[i] for i, shard in enumerate(self.shards) for t in shard}
            index = {"metadata": {"total_size": self.total_size}, "weight_map": weight_map}
            (self.folder / SAFETENSORS_INDEX).write_text(json.dumps(index, indent=2) + "\n")
            return [*self.names, SAFETENSORS_INDEX]
        return list(self.names)

    def abort(self) -> None:
        """Stop writing (after a failure); the caller removes the folder."""
        self._io.finish(raise_errors=False)


class _WriteThread:
    """File writes, in order, on one background thread; at most `depth` pieces wait in the queue.

    File writes release the GIL, so they overlap the arithmetic of the next piece. An error in the thread is
    raised by the next call from the producer.
    """

    def __init__(self, depth: int = 2) -> None:
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="merge-writer", daemon=True)
        self._thread.start()
        self._finished = False

    def _run(self) -> None:
        handle: IO[bytes] | None = None
        while True:
            op, arg = self._queue.get()
            try:
                if self._error is None:
                    if op == "open":
                        path, header = arg
                        handle = path.open("wb")
                        handle.write(header)
                    elif op == "write" and handle is not None:
                        handle.write(arg.reshape(-1).view(torch.uint8).numpy().data)
                    elif op == "close" and handle is not None:
                        handle.close()
                        handle = None
            except BaseException as exc:
                self._error = exc
            if op == "stop":
                if handle is not None:
                    handle.close()
                return

    def _put(self, op: str, arg: Any = None) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put((op, arg))

    def open_file(self, path: Path, header: bytes) -> None:
        self._put("open", (path, header))

    def write(self, tensor: torch.Tensor) -> None:
        self._put("write", tensor)

    def close_file(self) -> None:
        self._put("close")

    def finish(self, raise_errors: bool = True) -> None:
        if not self._finished:
            self._finished = True
            self._queue.put(("stop", None))
            self._thread.join()
        if raise_errors and self._error is not None:
            raise self._error


def _split(tensors: Sequence[OutputTensor], max_shard_size: int) -> list[list[OutputTensor]]:
    shards: list[list[OutputTensor]] = [[]]
    size = 0
    for t in tensors:
        if shards[-1] and size + t.nbytes > max_shard_size:
            shards.append([])
            size = 0
        shards[-1].append(t)
        size += t.nbytes
    return shards


def _header(tensors: Sequence[OutputTensor]) -> bytes:
    """The safetensors header: 8-byte little-endian length, then JSON padded with spaces to 8-byte alignment."""
    entries: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for t in tensors:
        entries[t.name] = {
            "dtype": _DTYPE_CODES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + t.nbytes],
        }
        offset += t.nbytes
    text = json.dumps(entries, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text


def copy_side_files(source: Path, target: Path, tokenizer_only: bool = False) -> list[str]:
    """Copy config, generation config and tokenizer files (not weights) from `source` into `target`."""
    copied = []
    for file in sorted(source.iterdir()):
        if tokenizer_only and file.name in (CONFIG, "generation_config.json"):
            continue
        if file.is_file() and SIDE_FILES.match(file.name):
            shutil.copy2(file, target / file.name)
            copied.append(file.name)
    return copied


def check_output(out: Path, inputs: Sequence[tuple[str, Path]]) -> None:
    """Refuse, before any weight is read, an output folder that would replace, sit inside or hold an input
    folder (`inputs`: label and folder), and one that cannot be written (a file in the way, no permission)."""
    target = out.resolve()
    for label, folder in inputs:
        source = folder.resolve()
        if target == source or source in target.parents:
            where = "is" if target == source else "lies inside"
            raise MergeError(
                f"output folder {str(out)!r} {where} the folder of {label} ({str(folder)!r}); the merge would "
                "change its own input: choose an output folder outside every input"
            )
        if target in source.parents:
            raise MergeError(
                f"output folder {str(out)!r} holds {label} ({str(folder)!r}); replacing it would delete that "
                "input: choose another output folder"
            )
    _check_writable(out)


def _check_writable(out: Path) -> None:
    """Create the output's parent folder and a probe file in it, so that a path that cannot be written fails now
    rather than after a pass over the inputs."""
    if out.exists() and not out.is_dir():
        raise MergeError(
            f"output {str(out)!r} is a file, not a folder (overwriting replaces folders only); choose another path"
        )
    blocking = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise MergeError(
            f"output folder {str(out)!r} lies below {str(blocking)!r}, which is a file; choose another path"
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out.parent, prefix=f".{out.name}.probe-"):
            pass
    except OSError as exc:
        raise MergeError(
            f"output folder {str(out)!r} cannot be written ({exc.strerror or exc}); choose a writable place"
        ) from None


@contextmanager
def atomic_folder(out: Path, overwrite: bool) -> Iterator[Path]:
    """A temporary folder beside `out`, renamed to `out` when the block completes; removed if it fails."""
    if out.exists() and not overwrite:
        raise MergeError(f"output folder {str(out)!r} already exists; remove it or pass overwrite")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        yield tmp
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
