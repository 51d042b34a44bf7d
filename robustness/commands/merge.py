"""`m3r merge`: merge models from a YAML config (Average, Task Arithmetic, TIES, DARE, each with or without M3).

A thin shell over `merges.merge`: it resolves the built-in model name, turns `MergeError` into `UserError` (one
line, exit code 2) and prints where the model went. transformers is never imported here.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from robustness import catalog

CONFIG_HELP = """\
config keys (YAML):
  base_model      folder or Hub id (or smollm2-135m-instruct, the built-in default base)
  models          list of 2 or more fine-tunes of base_model (strings or {{model: PATH}})
  method          {methods}
  parameters      scaling (s > 0, default 1), keep (TIES, 0 < keep <= 1), trim_scope (tensor | global,
                  default global), drop_rate (DARE, 0 <= p < 1), dare_method ({combining})
  m3              enabled, alpha (> 0), lambda (number for 2 models, list for K, null to sample), seed,
                  preserve_scale (Task Arithmetic: weights K*lambda), per_block (one lambda per layer);
                  M3 runs only with enabled: true, and any other m3 key without it is an error
  seed            run seed (DARE masks; M3 draws when m3.seed is null), default 0
  dtype           auto (as the base) | float32 | bfloat16 | float16
  device          auto | cpu | cuda
  max_shard_size  e.g. 5GB (default), 500MB
  output          output folder (--out overrides it); never an input's folder, inside one, or around one

example:
  base_model: smollm2-135m-instruct
  models: [experts/sst2, experts/cola]
  method: ties
  parameters: {{keep: 0.5, scaling: 1.0, trim_scope: global}}
  m3: {{enabled: true, alpha: 0.5, lambda: null, seed: 0}}
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "merge",
        help="merge models from a YAML config, with or without M3; writes a Hugging Face folder and merge.json",
        description="Merge fine-tuned models of one base, streaming one tensor at a time. The output folder is "
        "written atomically and holds the weights (sharded safetensors), config, tokenizer and merge.json "
        "(method, parameters, every lambda drawn, seeds, sha256 of the inputs).",
        epilog=CONFIG_HELP.format(methods=" | ".join(catalog.METHODS), combining=" | ".join(catalog.COMBINING)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", help="merge config (YAML); see the keys below")
    p.add_argument("--out", help="output folder, created atomically (default: the config's output key)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--json", action="store_true", help="print merge.json instead of the output path")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from merges import MergeError, merge
    from merges.config import validate_config
    from robustness.configfile import read_yaml
    from robustness.errors import UserError

    raw = read_yaml(args.config, what="merge config")
    try:
        config = validate_config(raw, source=args.config)
        data = config.to_record()
        resolved = _resolve_builtin(data)
        if resolved != data:
            config = validate_config(resolved, source=args.config)
        result = merge(config, args.out, overwrite=args.overwrite, require_tokenizer=True)
    except MergeError as exc:
        raise UserError(str(exc)) from None
    if args.json:
        print(json.dumps(result.record, indent=2))
    else:
        print(result.out_dir)
    return 0


def _resolve_builtin(data: dict[str, Any]) -> dict[str, Any]:
    """Replace the built-in model's name by its converted safetensors folder (converted on first use)."""
    from pathlib import Path

    from robustness.models.source import BUILTIN_GGUF

    names = [data["base_model"], *data["models"]]
    if not any(name in BUILTIN_GGUF and not Path(name).exists() for name in names):
        return data
    from robustness.models.convert import DEFAULT_BASE, default_base

    def resolve(name: str) -> str:
        if name == DEFAULT_BASE and not Path(name).exists():
            return str(default_base())
        return name

    return {**data, "base_model": resolve(data["base_model"]), "models": [resolve(m) for m in data["models"]]}
