"""`m3r merge` as a user runs it: the output path on success, one line and exit code 2 on bad input, and no
transformers import on the way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from robustness.cli import main


def _write_config(path: Path, tiny: dict[str, Path], **extra: str) -> Path:
    lines = [
        f"base_model: {tiny['base']}",
        f"models:\n  - model: {tiny['e1']}\n  - model: {tiny['e2']}",
        "method: ties",
        "parameters: {keep: 0.5, trim_scope: global}",
        "m3: {enabled: true, alpha: 0.5, lambda: null, seed: 1}",
        *(f"{k}: {v}" for k, v in extra.items()),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_merge_prints_the_output_folder(
    tiny: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _write_config(tmp_path / "merge.yaml", tiny)
    out = tmp_path / "merged"
    assert main(["merge", str(config), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert json.loads((out / "merge.json").read_text())["m3"]["seed"] == 1
    assert main(["merge", str(config), "--out", str(out), "--overwrite", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["method"] == "ties"


@pytest.mark.parametrize(
    "extra,fragments",
    [
        ({"density": "0.5"}, ["density: unknown key"]),
        ({"device": "gpu"}, ["device: "]),
        ({"base_model": "/no/such/base"}, ["base_model: model folder '/no/such/base' does not exist"]),
    ],
)
def test_bad_input_is_one_line_with_exit_code_2(
    tiny: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: dict[str, str],
    fragments: list[str],
) -> None:
    config = _write_config(tmp_path / "merge.yaml", tiny, **extra)
    if "base_model" in extra:  # a later key wins in YAML; rewrite instead of appending a duplicate
        config.write_text(config.read_text().replace(f"base_model: {tiny['base']}\n", ""))
    assert main(["merge", str(config), "--out", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1 and lines[0].startswith("m3r merge: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert not (tmp_path / "out").exists()


def test_merge_does_not_import_transformers(tiny: dict[str, Path], tmp_path: Path) -> None:
    config = _write_config(tmp_path / "merge.yaml", tiny)
    code = (
        "import sys\n"
        "from robustness.cli import main\n"
        f"rc = main(['merge', {str(config)!r}, '--out', {str(tmp_path / 'out')!r}])\n"
        "print(rc, 'transformers' in sys.modules)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["0", "False"]


def test_output_from_the_config_and_missing_output(
    tiny: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "from-config"
    config = _write_config(tmp_path / "merge.yaml", tiny, output=str(out))
    assert main(["merge", str(config)]) == 0
    assert capsys.readouterr().out.strip() == str(out) and (out / "merge.json").exists()
    bare = _write_config(tmp_path / "bare.yaml", tiny)
    assert main(["merge", str(bare)]) == 2
    assert "output: no output folder" in capsys.readouterr().err


def _error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["merge", *args]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1 and lines[0].startswith("m3r merge: error: "), captured
    assert "Traceback" not in captured.err
    return lines[0]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("which", ["base", "e1", "e2"])
def test_overwrite_never_replaces_an_input(
    tiny: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], which: str
) -> None:
    config = _write_config(tmp_path / "merge.yaml", tiny)
    before = _snapshot(tiny[which])
    label = {"base": "base_model", "e1": "models[0]", "e2": "models[1]"}[which]
    spelled = tiny[which] / ".." / tiny[which].name  # another spelling of the same folder: paths are resolved
    line = _error(capsys, str(config), "--out", str(spelled), "--overwrite")
    assert f"is the folder of {label}" in line and "choose an output folder outside every input" in line
    assert _snapshot(tiny[which]) == before


def test_output_inside_or_around_an_input_is_refused(
    tiny: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _write_config(tmp_path / "merge.yaml", tiny)
    line = _error(capsys, str(config), "--out", str(tiny["e1"] / "merged"))
    assert "lies inside the folder of models[0]" in line
    assert not (tiny["e1"] / "merged").exists()
    line = _error(capsys, str(config), "--out", str(tiny["e2"].parent), "--overwrite")
    assert "holds base_model" in line and "would delete that input" in line


def test_an_unwritable_output_fails_before_any_weight_is_read(
    tiny: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import merges.output
    import merges.reader

    def no_reads(self: merges.reader.Checkpoint, name: str) -> None:
        raise AssertionError(f"read {name} before the output was checked")

    monkeypatch.setattr(merges.reader.Checkpoint, "read", no_reads)
    config = _write_config(tmp_path / "merge.yaml", tiny)
    (tmp_path / "a-file").write_text("x")
    line = _error(capsys, str(config), "--out", str(tmp_path / "a-file" / "sub" / "merged"))
    assert f"lies below {str(tmp_path / 'a-file')!r}, which is a file; choose another path" in line
    line = _error(capsys, str(config), "--out", str(tmp_path / "a-file"), "--overwrite")
    assert "is a file, not a folder" in line

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(merges.output.tempfile, "NamedTemporaryFile", refuse)
    line = _error(capsys, str(config), "--out", str(tmp_path / "merged"))
    assert "cannot be written (Permission denied); choose a writable place" in line


@pytest.mark.parametrize(
    ("models", "fragment"),
    [
        (["base", "e1"], "models[0]: '{base}' is the same model as base_model; list only the fine-tunes of base_model"),
        (["e1", "e2", "e1"], "models[2]: '{e1}' is the same model as models[0]; list each model once"),
    ],
)
def test_a_model_listed_twice_or_as_the_base_is_refused_before_any_read(
    tiny: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    models: list[str],
    fragment: str,
) -> None:
    import merges.reader

    def no_reads(self: merges.reader.Checkpoint, name: str) -> None:
        raise AssertionError(f"read {name} before the config was checked")

    monkeypatch.setattr(merges.reader.Checkpoint, "read", no_reads)
    config = tmp_path / "merge.yaml"
    entries = "".join(f"\n  - model: {tiny[m]}" for m in models)
    config.write_text(f"base_model: {tiny['base']}\nmodels:{entries}\nmethod: task_arithmetic\n")
    line = _error(capsys, str(config), "--out", str(tmp_path / "out"))
    assert fragment.format(**{k: str(v) for k, v in tiny.items()}) in line
    assert not (tmp_path / "out").exists()


def test_yaml_syntax_error_gives_line_and_column(
    tiny: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "merge.yaml"
    config.write_text(f"base_model: {tiny['base']}\nmethod: ties\nparameters: {{keep: 0.5, scaling: [1.0}}\n")
    line = _error(capsys, str(config), "--out", str(tmp_path / "out"))
    assert f"{config}: not valid YAML: line 3, column" in line and "fix the brackets, quotes or indentation" in line


def test_m3r_merge_refuses_a_base_without_a_tokenizer(tiny: dict[str, Path], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    import shutil

    base = tmp_path / "base"
    shutil.copytree(tiny["base"], base)
    (base / "tokenizer.json").unlink()
    config = tmp_path / "merge.yaml"
    config.write_text(f"method: task_arithmetic\nbase_model: {base}\nmodels: [{tiny['e1']}, {tiny['e2']}]\n"
                      "parameters: {scaling: 1.0}\n")  # fmt: skip
    assert main(["merge", str(config), "--out", str(tmp_path / "out")]) == 2
    assert "holds no tokenizer" in capsys.readouterr().err and not (tmp_path / "out").exists()
