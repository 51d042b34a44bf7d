"""Load a causal LM and its tokenizer on the chosen device and dtype, ready for batched scoring."""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from robustness.errors import UserError
from robustness.models.device import resolve_device, resolve_dtype
from robustness.models.source import ModelSource, resolve_source

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """A model in eval mode with its tokenizer (left padding, pad token set) and where it lives."""

    model: Any
    tokenizer: Any
    source: ModelSource
    device: torch.device
    dtype: torch.dtype

    @property
    def has_chat_template(self) -> bool:
        return has_chat_template(self.tokenizer)


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def load_tokenizer(source: ModelSource | str | Path, padding_side: str = "left") -> Any:
    """The model's tokenizer with `padding_side` (left for batched next-token scoring) and a pad token.

    Tokenizers without a pad token get their EOS (else UNK) token as pad; no token is added, so the
    embedding matrix keeps the shape that merging and scoring expect.
    """
    from transformers import AutoTokenizer

    src = source if isinstance(source, ModelSource) else resolve_source(source)
    tokenizer = _from_pretrained(AutoTokenizer, src)
    tokenizer.padding_side = padding_side
    if tokenizer.pad_token is None:
        fallback = tokenizer.eos_token or tokenizer.unk_token
        if fallback is None:
            raise UserError(f"tokenizer of {src.reference!r} has no pad, eos or unk token to pad batches with")
        tokenizer.pad_token = fallback
    return tokenizer


def load_model(
    reference: ModelSource | str | Path,
    device: str = "auto",
    dtype: str = "auto",
    gguf_file: str | None = None,
) -> LoadedModel:
    """Load a causal LM for evaluation. GGUF weights are dequantised (float32) and then cast to `dtype`."""
    from transformers import AutoModelForCausalLM

    src = reference if isinstance(reference, ModelSource) else resolve_source(reference, gguf_file)
    target = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, target)
    kwargs: dict[str, Any] = {"dtype": torch_dtype}
    if target.type == "cuda":
        # Place weights straight onto the GPU instead of staging the whole model in host memory.
        kwargs["device_map"] = {"": target.index or 0}
    model = _from_pretrained(AutoModelForCausalLM, src, **kwargs)
    if target.type != "cuda":
        model = model.to(target)
    if model.dtype != torch_dtype:
        model = model.to(torch_dtype)
    model.eval()
    tokenizer = load_tokenizer(src)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    log.info("loaded %s on %s as %s", src.describe(), target, torch_dtype)
    return LoadedModel(model=model, tokenizer=tokenizer, source=src, device=target, dtype=torch_dtype)


def _from_pretrained(cls: Any, src: ModelSource, **kwargs: Any) -> Any:
    if src.gguf_file:
        kwargs["gguf_file"] = src.gguf_file
    try:
        return cls.from_pretrained(src.location, **kwargs)
    except (pickle.UnpicklingError, EOFError, RuntimeError) as exc:
        if src.kind != "bin" or isinstance(exc, torch.OutOfMemoryError):
            raise  # safetensors headers were checked when the source was resolved
        # torch.load's messages for a damaged .bin: a zip without its directory, or bytes that do not unpickle
        reason = "not a PyTorch weights file" if isinstance(exc, pickle.UnpicklingError) else _first_line(exc)
        reason = reason.split(". ")[0]
        raise UserError(
            f"could not load the weights {', '.join(_weight_files(src))} in {src.location}: {reason}; "
            "copy or download them again, or re-save the model"
        ) from None
    except OSError as exc:
        if src.is_local:
            raise UserError(f"could not load {src.describe()}: {_first_line(exc)}") from exc
        raise UserError(
            f"could not load {src.reference!r} from the Hugging Face Hub or its local cache "
            f"({_first_line(exc)}); check the id, or pass a local folder"
        ) from exc


def _weight_files(src: ModelSource) -> list[str]:
    if src.gguf_file:
        return [src.gguf_file]
    folder = Path(src.location)
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".bin", ".safetensors")) or ["(none found)"]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
