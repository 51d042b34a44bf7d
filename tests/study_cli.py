"""Running `m3r run` in-process on a study config written to a temporary folder, with the runner replaced by a
tripwire: a config that passes validation raises `StudyStarted` instead of merging, so a test of a broken config
fails (rather than running the pipeline) when validation lets it through."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from robustness.cli import main

ROOT = Path(__file__).parent.parent
CONFIGS = ROOT / "configs"
Config = dict[str, Any]
_SMOKE: Config = yaml.safe_load((CONFIGS / "smoke.yaml").read_text(encoding="utf-8"))


class StudyStartedError(Exception):
    """Validation passed and `m3r run` went on to the runner."""


def smoke() -> Config:
    """configs/smoke.yaml as data, its family config named by an absolute path (tests run from any folder)."""
    cfg = copy.deepcopy(_SMOKE)
    cfg["models"]["family_config"] = str(CONFIGS / "models-smoke.yaml")
    return cfg


def _started(cfg: Any) -> Path:
    raise StudyStartedError(f"validation passed study {cfg.name!r}: the runner was reached")


@dataclass
class Study:
    tmp: Path
    capsys: pytest.CaptureFixture[str]

    @property
    def out(self) -> Path:
        """The output_dir every study run here gets (unless the config names another)."""
        return self.tmp / "runs"

    @property
    def config(self) -> Path:
        return self.tmp / "study.yaml"

    def run(self, cfg: Config | bytes, *flags: str) -> tuple[int, str, str]:
        """Write `cfg` (data, or the file's bytes) and run `m3r run` on it: (exit code, stdout, stderr)."""
        if isinstance(cfg, bytes):
            self.config.write_bytes(cfg)
        else:
            cfg = {"output_dir": str(self.out), **cfg}
            self.config.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
        code = main(["run", str(self.config), *flags])
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err

    def refused(self, cfg: Config | bytes, *fragments: str, flags: tuple[str, ...] = ()) -> str:
        """`m3r run` refuses `cfg`: exit code 2, one line on stderr naming the config file and holding every
        fragment, nothing on stdout, no output folder. Returns the line."""
        code, out, err = self.run(cfg, *flags)
        lines = err.strip().splitlines()
        assert code == 2 and out == "" and len(lines) == 1, (code, out, err)
        assert lines[0].startswith(f"m3r run: error: {self.config}: "), lines[0]
        for fragment in fragments:
            assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
        assert not self.out.exists(), "the run's output folder was created"
        return lines[0]


def make_study(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Study:
    monkeypatch.setattr("robustness.experiment.execution.runner.run_experiment", _started)
    return Study(tmp_path, capsys)
