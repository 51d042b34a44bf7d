"""The experiment end to end on configs/smoke.yaml: report, resume after kills, identical tables across runs.

Slow (minutes): run with `make test-slow` (CI runs it)."""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.tiny_study import stored_results

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parent.parent
M3R = str(Path(sys.executable).parent / "m3r")
COUNTS = {
    "merge": 6,
    "clean": 28,
    "attack": 12,
    "livebench": 2,
    "selection": 2,
}  # clean: 6 for the references' selection scores


def start(out: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.Popen(
        [M3R, "run", str(ROOT / "configs" / "smoke.yaml"), "--output-dir", str(out), *extra],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip


def finish(proc: subprocess.Popen[str]) -> str:
    stdout, stderr = proc.communicate(timeout=1800)
    assert proc.returncode == 0, stderr[-3000:]
    return stdout + stderr


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    log = finish(start(out))
    assert "50 units run, 0 already in the store" in log
    return out / "smoke"


def test_smoke_run_writes_store_and_report(reference_run: Path) -> None:
    stored = stored_results(reference_run)
    kinds = [u["kind"] for u in stored.values()]
    assert {k: kinds.count(k) for k in COUNTS} == COUNTS
    report = (reference_run / "report" / "report.md").read_text()
    assert "Table 3" in report and "Sample sizes" in report
    assert "data:image/png;base64," in (reference_run / "report" / "report.html").read_text()
    assert (reference_run / "report" / "tables" / "table3.csv").is_file()
    assert not any((reference_run / "merges").iterdir()), "merged weights are deleted after the run"
    selection = [u for u in stored.values() if u["kind"] == "selection"]
    assert all(len(u["candidates"]) == 2 for u in selection)
    # The normalised criterion's references: the base and both experts, scored on the selection rows.
    assert all(u["criterion_name"] == "normalised_gain" for u in selection)
    assert all(set(u["references"]) == {"base", "expert/sst2", "expert/cola"} for u in selection)
    assert all(c["score"] is not None for u in selection for c in u["candidates"])
    # Selection and report rows are disjoint.
    clean = [u for u in stored.values() if u["kind"] == "clean"]
    for dataset in ("sst2", "cola"):
        sel = {i for u in clean if u["dataset"] == dataset and u["split"] == "selection" for i in u["indices"]}
        rep = {i for u in clean if u["dataset"] == dataset and u["split"] == "report" for i in u["indices"]}
        assert sel and rep and not sel & rep


def test_rerun_does_no_work(reference_run: Path) -> None:
    log = finish(start(reference_run.parent, "--no-report"))
    assert "0 units run, 50 already in the store" in log


def test_two_runs_give_identical_tables(reference_run: Path, tmp_path: Path) -> None:
    finish(start(tmp_path))
    again = tmp_path / "smoke"
    assert stored_results(again) == stored_results(reference_run)
    tables = sorted(p.name for p in (reference_run / "report" / "tables").iterdir())
    assert tables == sorted(p.name for p in (again / "report" / "tables").iterdir())
    for name in tables:
        assert (again / "report" / "tables" / name).read_bytes() == (
            reference_run / "report" / "tables" / name
        ).read_bytes(), name


def test_killed_runs_resume_to_the_same_store(reference_run: Path, tmp_path: Path) -> None:
    rng = random.Random(20261122)
    kills = 0
    for _ in range(4):
        proc = start(tmp_path, "--no-report")
        time.sleep(rng.uniform(5, 40))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # no chance to clean up: the hardest case
            proc.wait()
            kills += 1
        else:
            break
    assert kills >= 2
    finish(start(tmp_path, "--no-report"))
    resumed = stored_results(tmp_path / "smoke")
    assert resumed == stored_results(reference_run)  # no unit lost, none duplicated, same results
    with sqlite3.connect(tmp_path / "smoke" / "results.sqlite") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    shutil.rmtree(tmp_path / "smoke" / "merges", ignore_errors=True)
