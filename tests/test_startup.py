"""Commands that run no model load no model code: `m3r --help`, `m3r plan`, `m3r report` and the validation of
study and merge configs finish without torch or transformers in `sys.modules` (each in a fresh interpreter)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "fixtures" / "study_report"

PROBE = """
import contextlib, io, json, sys
from robustness.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        code = main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"code": code, "loaded": sorted(m for m in ("torch", "transformers") if m in sys.modules)}))
"""

VALIDATE = """
import json, sys
from merges import load_merge_config
from robustness.experiment.spec.config import load_experiment
from robustness.experiment.spec.validate import validate_shape
validate_shape(load_experiment(sys.argv[1]))
load_merge_config(sys.argv[2])
print(json.dumps({"code": 0, "loaded": sorted(m for m in ("torch", "transformers") if m in sys.modules)}))
"""


def _run(code: str, *args: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [["--help"], ["plan", "configs/default.yaml"], ["plan", "configs/paper-13b.yaml"],
                                  ["merge", "--help"], ["run", "--help"]], ids=" ".join)  # fmt: skip
def test_commands_that_run_no_model_import_none(args: list[str]) -> None:
    assert _run(PROBE, *args) == {"code": 0, "loaded": []}


def test_m3r_report_imports_no_model_code(tmp_path: Path) -> None:
    run = tmp_path / "fixture"
    shutil.copytree(FIXTURE, run)
    assert _run(PROBE, "report", str(run)) == {"code": 0, "loaded": []}


def test_config_validation_imports_no_model_code(tmp_path: Path) -> None:
    merge = tmp_path / "merge.yaml"
    merge.write_text("method: task_arithmetic\nbase_model: b\nmodels: [x, y]\nparameters: {scaling: 1.0}\n")
    assert _run(VALIDATE, str(ROOT / "configs" / "default.yaml"), str(merge)) == {"code": 0, "loaded": []}
