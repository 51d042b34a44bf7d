"""Install PromptBench 0.0.4 (and its TextAttack back end) into its own virtual environment, once.

    .venv/bin/python bench/eval_vs_promptbench/setup_promptbench.py [--venv DIR]

promptbench 0.0.4 pins torch 2.2 / transformers 4.38 and TextAttack needs flair, none of which install beside a
current torch; so both go in with --no-deps on top of a CPU torch (pinned: an unpinned torch pulls CUDA wheels)
and the dependencies that DeepWordBug and StressTest actually import. The worker (promptbench_worker.py) provides
the remaining offline shims at import time.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_VENV = HERE / ".venv-promptbench"
TORCH_VERSION = "2.13.0"
PROMPTBENCH_VERSION = "0.0.4"
TEXTATTACK_VERSION = "0.3.11"
RUNTIME_DEPS = (
    "pillow", "autocorrect", "lru-dict", "nltk", "jieba", "Levenshtein", "langdetect", "pinyin", "OpenHowNet",
    "lemminflect", "more-itertools", "num2words", "word2number", "language-tool-python", "bert-score",
    "editdistance", "terminaltables",
    "scipy",  # imported by TextAttack's search methods, missing from the list measured in the design notes
)  # fmt: skip


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_promptbench(venv: Path = DEFAULT_VENV) -> tuple[Path, float | None]:
    """The venv's python, and the seconds the install took (None when it was already there)."""
    marker = venv / "promptbench-installed"
    if marker.is_file():
        return venv_python(venv), None
    print(f"installing promptbench {PROMPTBENCH_VERSION} into {venv} (once)", flush=True)
    start = time.perf_counter()
    subprocess.check_call([sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv_python(venv)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.check_call([*pip, f"torch=={TORCH_VERSION}", "transformers", "datasets"])
    subprocess.check_call(
        [*pip, "--no-deps", f"promptbench=={PROMPTBENCH_VERSION}", f"textattack=={TEXTATTACK_VERSION}"]
    )
    subprocess.check_call([*pip, *RUNTIME_DEPS])
    seconds = time.perf_counter() - start
    marker.write_text(f"{seconds:.0f} s\n")
    print(f"installed in {seconds:.0f} s", flush=True)
    return venv_python(venv), seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    ensure_promptbench(ap.parse_args().venv)


if __name__ == "__main__":
    main()
