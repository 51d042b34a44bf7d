"""Convert a loadable model (GGUF, .bin, Hub id) into a plain safetensors folder, atomically."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from merges.output import atomic_folder
from robustness.errors import UserError
from robustness.models.load import LoadedModel, load_model
from robustness.models.source import ModelSource, resolve_source
from robustness.paths import cache_dir

DEFAULT_BASE = "smollm2-135m-instruct"
RECORD = "conversion.json"


def convert_to_safetensors(
    reference: ModelSource | str | Path,
    out_dir: str | Path,
    dtype: str = "float32",
    overwrite: bool = False,
) -> Path:
    """Load `reference` on the CPU and write it as a Hugging Face safetensors folder at `out_dir`."""
    src = reference if isinstance(reference, ModelSource) else resolve_source(reference)
    out = Path(out_dir).expanduser()
    if out.exists() and not overwrite:
        raise UserError(f"output folder {str(out)!r} already exists; remove it or pass --overwrite")
    return save_safetensors(load_model(src, device="cpu", dtype=dtype), out)


def save_safetensors(loaded: LoadedModel, out_dir: str | Path, records: dict[str, Any] | None = None) -> Path:
    """Write a loaded model and its tokenizer as a safetensors folder, replacing `out_dir`.

    The folder is built beside `out_dir` and renamed into place only when complete, so an interrupted
    conversion never leaves a folder that looks finished. `records` (file name -> JSON value) are written into
    it; by default a `conversion.json` that names the source.
    """
    out = Path(out_dir).expanduser()
    model = loaded.model
    # A GGUF load leaves a quantizer attached; with it save_pretrained refuses to write plain weights.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    side = loaded.tokenizer.padding_side
    try:
        with atomic_folder(out, overwrite=True) as tmp:
            model.save_pretrained(tmp, safe_serialization=True)
            loaded.tokenizer.padding_side = "right"  # the folder keeps the tokenizer's own default
            loaded.tokenizer.save_pretrained(tmp)
            if records is None:
                records = {RECORD: _record(loaded.source, str(loaded.dtype).removeprefix("torch."))}
            for name, value in records.items():
                (tmp / name).write_text(json.dumps(value, indent=2) + "\n")
    finally:
        loaded.tokenizer.padding_side = side
    return out


def default_base(rebuild: bool = False) -> Path:
    """The embedded default base model as a safetensors folder in the cache, converted on first use."""
    src = resolve_source(DEFAULT_BASE)
    assert src.gguf_file is not None
    digest = sha256_file(Path(src.location) / src.gguf_file)[:12]
    target = cache_dir() / "models" / f"{DEFAULT_BASE}-{digest}"
    if (target / RECORD).is_file() and not rebuild:
        return target
    return convert_to_safetensors(src, target, overwrite=True)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _record(src: ModelSource, dtype: str) -> dict[str, Any]:
    record: dict[str, Any] = {"source": src.reference, "kind": src.kind, "dtype": dtype}
    if src.gguf_file:
        gguf = Path(src.location) / src.gguf_file
        record["gguf_file"] = src.gguf_file
        record["source_sha256"] = sha256_file(gguf)
    return record
