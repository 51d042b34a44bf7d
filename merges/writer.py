"""Writing merged tensors into safetensors shards as they are computed.

Because every output shape and dtype is known before the merge starts, the safetensors headers can be written
up front and each tensor's bytes appended the moment it is computed. Peak memory is then a few tensors, not a
shard or a model. The shards go into the temporary folder that `merges.output.atomic_folder` renames into
place when complete.
"""

from __future__ import annotations

import json
import queue
import struct
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import torch

from merges.formats import SAFETENSORS_DTYPES, SAFETENSORS_INDEX, SAFETENSORS_SINGLE

_DTYPE_CODES = {dtype: code for code, dtype in SAFETENSORS_DTYPES.items()}


@dataclass(frozen=True)
class OutputTensor:
    """One tensor the writer will write, planned before the merge starts: its name, dtype and shape."""

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
