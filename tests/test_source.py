import json
import struct
from pathlib import Path

import pytest

from robustness.errors import UserError
from robustness.models.source import resolve_source

# A safetensors file with no tensors: an 8-byte header length, then the JSON header (resolving reads headers).
EMPTY_SAFETENSORS = struct.pack("<Q", 8) + b"{}      "


def _folder(tmp_path: Path, *files: str) -> Path:
    folder = tmp_path / f"model{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    shards = [name for name in files if name.endswith(".safetensors")]
    for name in files:
        data = b""
        if name.endswith(".safetensors"):
            data = EMPTY_SAFETENSORS
        elif name == "model.safetensors.index.json":
            data = json.dumps({"weight_map": {f"w{i}": shard for i, shard in enumerate(shards)}}).encode()
        elif name.endswith(".json"):  # config.json, tokenizer.json: checked for being JSON objects / present
            data = b"{}"
        (folder / name).write_bytes(data)
    return folder


@pytest.mark.parametrize(
    ("files", "kind"),
    [
        (("config.json", "tokenizer.json", "model.safetensors"), "safetensors"),
        (
            ("config.json", "tokenizer.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors"),
            "safetensors",
        ),
        (("config.json", "tokenizer.model", "pytorch_model.bin"), "bin"),
        (("config.json", "vocab.json", "pytorch_model.bin.index.json"), "bin"),
    ],
)
def test_folder_kinds(tmp_path: Path, files: tuple[str, ...], kind: str) -> None:
    src = resolve_source(_folder(tmp_path, *files))
    assert src.kind == kind
    assert src.gguf_file is None


def test_gguf_in_folder_and_as_file(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "m.Q4.gguf")
    assert resolve_source(folder).gguf_file == "m.Q4.gguf"
    src = resolve_source(folder / "m.Q4.gguf")
    assert (src.kind, src.location, src.gguf_file) == ("gguf", str(folder), "m.Q4.gguf")


def test_several_ggufs_need_a_name(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "a.gguf", "b.gguf")
    with pytest.raises(UserError, match=r"several GGUF files \(a.gguf, b.gguf\)"):
        resolve_source(folder)
    assert resolve_source(folder, gguf_file="b.gguf").gguf_file == "b.gguf"
    with pytest.raises(UserError, match=r"GGUF file 'c\.gguf' not found"):
        resolve_source(folder, gguf_file="c.gguf")


def test_missing_path_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"model path '.*nope' does not exist"):
        resolve_source(tmp_path / "nope")
    with pytest.raises(UserError, match="holds no weights"):
        resolve_source(_folder(tmp_path, "config.json"))
    with pytest.raises(UserError, match=r"not a \.gguf file"):
        resolve_source(_folder(tmp_path, "notes.txt") / "notes.txt")


def test_hub_ids_pass_through() -> None:
    src = resolve_source("meta-llama/Llama-2-13b-hf")
    assert (src.kind, src.location, src.is_local) == ("hub", "meta-llama/Llama-2-13b-hf", False)
    assert resolve_source("gpt2").kind == "hub"


def test_builtin_default_model_comes_from_its_package() -> None:
    src = resolve_source("smollm2-135m-instruct")
    assert src.kind == "gguf"
    assert src.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert (Path(src.location) / src.gguf_file).is_file()
