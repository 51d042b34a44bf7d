"""`m3r inspect`: load a model, report how it was loaded, and score or continue one prompt."""

from __future__ import annotations

import argparse
import json
from typing import Any

from robustness.commands.argtypes import positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "inspect",
        help="load a model (Hub id, folder, .gguf, or smollm2-135m-instruct) and score one prompt",
        description="Load a model, print its device, dtype, size and chat template, and run one prompt: "
        "label-word log-probabilities with --labels, else a short greedy continuation.",
    )
    p.add_argument("model", help="Hub id, local folder, .gguf file, or the built-in name smollm2-135m-instruct")
    p.add_argument("--gguf-file", help="GGUF file inside the model folder or Hub repository")
    p.add_argument(
        "--prompt",
        default="Is the following sentence positive or negative?\nQuestion: a gorgeous, witty film.\nAnswer:",
        help="the prompt to run",
    )
    p.add_argument("--labels", help="comma-separated label words to score, e.g. positive,negative")
    p.add_argument(
        "--chat",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="wrap the prompt in the chat template (default: when the model has one)",
    )
    p.add_argument("--max-new-tokens", type=positive_int, default=10, help="continuation length (default 10)")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    p.add_argument("--dtype", default="auto", help="auto (bf16 on capable GPUs, fp32 on CPU), float32, bfloat16...")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from robustness.models import load_model
    from robustness.models.backend import HFBackend
    from robustness.models.chat import format_inputs

    loaded = load_model(args.model, device=args.device, dtype=args.dtype, gguf_file=args.gguf_file)
    backend = HFBackend(loaded)
    text = format_inputs(loaded.tokenizer, [args.prompt], args.chat)[0]
    info: dict[str, Any] = {
        "model": loaded.source.describe(),
        "device": str(loaded.device),
        "dtype": str(loaded.dtype).removeprefix("torch."),
        "parameters": sum(p.numel() for p in loaded.model.parameters()),
        "chat_template": loaded.has_chat_template,
        "chat": text != args.prompt,
        "pad_token": loaded.tokenizer.pad_token,
    }
    if args.labels:
        words = [w.strip() for w in args.labels.split(",") if w.strip()]
        scores = backend.score([text], words)[0].tolist()
        info["label_logprobs"] = dict(zip(words, scores, strict=True))
        info["prediction"] = words[max(range(len(words)), key=scores.__getitem__)]
    else:
        info["continuation"] = backend.generate([text], args.max_new_tokens)[0]
    if args.json:
        print(json.dumps(info))
    else:
        width = max(map(len, info))
        for key, value in info.items():
            print(f"{key:<{width}}  {value}")
    return 0
