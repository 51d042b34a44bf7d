"""Model merging: Average, Task Arithmetic, TIES and DARE, each with and without Mixup Model Merge (M3).

The lower layer of the suite: it knows tensors and checkpoints, nothing about evaluation. Entry points:
`load_merge_config(path)` validates a YAML config, `merge(config, out_dir)` writes a merged Hugging Face folder
with a merge.json record and returns a `MergeResult`; `merges.sampling` lays out the paper's lambda sweep. The
methods live in one registry (`merges.registry`; the built-in ones in `merges.builtin`, registered when this
package is imported): `register_method` adds one, and every config check, merge and listing sees it.
"""

from typing import TYPE_CHECKING, Any

from merges.config import MergeConfig, load_merge_config, validate_config
from merges.errors import MergeError
from merges.registry import register_method, registered_method, unregister_method

if TYPE_CHECKING:
    from merges.engine import MergeResult, merge


def __getattr__(name: str) -> Any:
    """`merge` and `MergeResult` (the engine, which needs torch) load on first use: validating a config does not."""
    if name in ("merge", "MergeResult"):
        from merges import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'merges' has no attribute {name!r}")


__all__ = [
    "MergeConfig",
    "MergeError",
    "MergeResult",
    "load_merge_config",
    "merge",
    "register_method",
    "registered_method",
    "unregister_method",
    "validate_config",
]
