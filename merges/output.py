"""The merge's output folder: checked before any weight is read, filled in a temporary sibling folder that is
renamed into place when complete, and given the config and tokenizer files of an input."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from merges.errors import MergeError
from merges.folders import TOKENIZER_FILES, has_tokenizer
from merges.formats import CONFIG, SIDE_FILES


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


def check_tokenizer(label: str, folder: Path) -> None:
    """Refuse, before any weight is read, a merge whose output would get no tokenizer: no command could load it."""
    if not has_tokenizer(folder):
        raise MergeError(
            f"{label} folder {str(folder)!r} holds no tokenizer ({', '.join(TOKENIZER_FILES)}), and the merged "
            "folder takes its tokenizer from there: no command could load the merge; save the tokenizer beside "
            "the weights (tokenizer.save_pretrained(folder))"
        )


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
