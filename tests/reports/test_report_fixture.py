"""The report renders from a stored study byte for byte as the code that ran the study rendered it.

tests/fixtures/study_report holds a small real study's store (tiny random Llamas, every part of the report on; its
make.py says how it was made) and the report written at the time. Re-rendering that store must give the same
report.md, report.html, tables and figures, so a refactor of the report or the store that changes a number, a row
order or a word fails here. Figures (and the HTML that embeds them) are compared byte for byte only under the
matplotlib version that drew them (its file beside the fixture): another version draws other pixels.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from reports.write import write_report

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "study_report"
EMBEDDED = re.compile(rb"data:image/png;base64,[A-Za-z0-9+/=]+")


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    run_dir = tmp_path_factory.mktemp("runs") / "fixture"
    run_dir.mkdir()
    shutil.copy(FIXTURE / "results.sqlite", run_dir / "results.sqlite")
    written = write_report(run_dir)
    return _files(written.out_dir)


def test_the_same_files_are_written(rendered: dict[str, bytes]) -> None:
    assert sorted(rendered) == sorted(_files(FIXTURE / "report"))


@pytest.mark.parametrize("name", sorted(p.name for p in (FIXTURE / "report" / "tables").iterdir()))
def test_each_table_renders_byte_for_byte(rendered: dict[str, bytes], name: str) -> None:
    assert rendered[f"tables/{name}"] == (FIXTURE / "report" / "tables" / name).read_bytes()


def test_the_markdown_report_renders_byte_for_byte(rendered: dict[str, bytes]) -> None:
    expected = (FIXTURE / "report" / "report.md").read_text(encoding="utf-8")
    assert rendered["report.md"].decode("utf-8") == expected


def test_the_html_report_renders_byte_for_byte_but_for_its_pictures(rendered: dict[str, bytes]) -> None:
    expected = (FIXTURE / "report" / "report.html").read_bytes()
    assert EMBEDDED.sub(b"PNG", rendered["report.html"]) == EMBEDDED.sub(b"PNG", expected)


def test_figures_render_byte_for_byte_under_the_same_matplotlib(rendered: dict[str, bytes]) -> None:
    import matplotlib

    drawn_with = (FIXTURE / "matplotlib-version.txt").read_text().strip()
    if matplotlib.__version__ != drawn_with:
        pytest.skip(f"the fixture's figures were drawn by matplotlib {drawn_with}, this is {matplotlib.__version__}")
    assert rendered["report.html"] == (FIXTURE / "report" / "report.html").read_bytes()
    for name, data in rendered.items():
        if name.startswith("figures/"):
            assert data == (FIXTURE / "report" / name).read_bytes(), name
