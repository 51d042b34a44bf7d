"""The on-disk layout of a Hugging Face model folder: weight and config file names, and safetensors dtype codes.

Shared by the checkpoint reader (`merges.reader`), the shard writer (`merges.writer`) and the output folder
(`merges.output`), so that what is read and what is written name their files the same way.
"""

from __future__ import annotations

import re

import torch

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
