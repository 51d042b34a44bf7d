"""`m3r report`'s shell: read a run's store, build the report, render report.md, report.html, tables/ and
figures/, and write them.

Files are written into a temporary folder beside the output and moved into place at the end, so a failure (a
full disk) never leaves a half-written report that looks finished. The document itself is `reports.build`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from reports.build import DEFAULT_RESAMPLES, Report, build_report
from reports.completeness import Completeness, notice_blocks, run_completeness
from reports.document import Block
from reports.formatting import csv_text
from reports.html import render_html
from reports.latex import table_tex
from reports.load import load_run
from reports.markdown import render_markdown
from robustness.errors import UserError


@dataclass(frozen=True)
class Written:
    """What `write_report` wrote: the folder, its files, the report's warnings and whether the run is complete."""

    out_dir: Path
    files: list[str]  # relative to out_dir, sorted
    warnings: list[str]
    completeness: Completeness | None = None


def write_report(
    run_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Written:
    """Render the report of `run_dir` into `out_dir` (default: <run_dir>/report)."""
    run = load_run(run_dir)
    report = build_report(run, resamples, seed)
    status = run_completeness(run_dir)
    blocks = [*notice_blocks(status), *report.blocks]  # an unfinished run says so before anything else
    out = Path(out_dir) if out_dir is not None else Path(run_dir) / "report"
    files = report_files(report, blocks)
    _write_atomically(out, files)
    return Written(out, sorted(files), report.warnings, status)


def report_files(report: Report, blocks: list[Block]) -> dict[str, bytes]:
    """Every file of the report by its path under the output folder: the two documents (rendered from `blocks`,
    the report's own with any notice in front), each table as csv and tex, each figure as png."""
    files: dict[str, bytes] = {
        "report.md": render_markdown(report.title, blocks).encode(),
        "report.html": render_html(report.title, blocks).encode(),
    }
    for table in report.tables:
        files[f"tables/{table.name}.csv"] = csv_text(table.data).encode()
        files[f"tables/{table.name}.tex"] = table_tex(table).encode()
    for figure in report.figures:
        files[f"figures/{figure.name}.png"] = figure.png
    return files


def _write_atomically(out: Path, files: dict[str, bytes]) -> None:
    """Write into a temporary sibling folder, then move each part into `out` (tables/ and figures/ replaced)."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.exists() and not out.is_dir():
            raise UserError(f"report output {out} exists and is not a folder")
        staging = Path(tempfile.mkdtemp(prefix=".report-", dir=out.parent))
    except OSError as exc:
        raise UserError(f"cannot write the report to {out}: {exc.strerror or exc}") from exc
    try:
        for name, data in files.items():
            path = staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        out.mkdir(exist_ok=True)
        for part in ("tables", "figures"):
            if (out / part).exists():
                shutil.rmtree(out / part)
            if (staging / part).exists():
                os.replace(staging / part, out / part)
        for name in ("report.md", "report.html"):
            os.replace(staging / name, out / name)
    except OSError as exc:
        raise UserError(
            f"cannot write the report to {out}: {exc.strerror or exc}; the store is unchanged, rerun once fixed"
        ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
