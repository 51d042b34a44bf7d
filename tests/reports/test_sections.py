"""Report sections are a registry: a section added through the public API prints at its declared place in the
report of a real study's store (tests/fixtures/study_report), removing it gives that report back byte for byte,
a section sees only the inputs it declares, and the data several sections share is computed once per report."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reports import attack_curve, effects, registry
from reports.build import build_report
from reports.document import Block, Heading, Paragraph
from reports.load import RunData, load_run
from reports.section import Inputs, Section
from reports.shared import ROWS
from reports.write import write_report

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "study_report"
TOY_HEADING = "Toy section"


def _toy_compute(inputs: Inputs) -> str:
    return f"{len(inputs.frame('merge'))} merge units; {len(inputs.get(ROWS).attacks)} attack rows in the tables."


def _toy_render(text: str) -> list[Block]:
    return [Heading(TOY_HEADING), Paragraph(text)]


TOY = Section(name="toy", reads=("merge",), uses=(ROWS,), compute=_toy_compute, render=_toy_render)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("runs") / "fixture"
    folder.mkdir()
    shutil.copy(FIXTURE / "results.sqlite", folder / "results.sqlite")
    return folder


@pytest.fixture(scope="module")
def run(run_dir: Path) -> RunData:
    return load_run(run_dir)


@pytest.fixture
def toy_registered() -> Iterator[None]:
    registry.register_section(TOY, after="transfer")
    try:
        yield
    finally:
        if "toy" in registry.section_names():
            registry.remove_section("toy")


def _headings(markdown: str) -> list[str]:
    return [line[3:] for line in markdown.splitlines() if line.startswith("## ")]


def test_a_registered_section_prints_at_its_place_and_removing_it_gives_the_report_back(
    run_dir: Path, run: RunData, toy_registered: None
) -> None:
    original = (FIXTURE / "report" / "report.md").read_text(encoding="utf-8")
    assert registry.section_names().index("toy") == registry.section_names().index("transfer") + 1
    with_toy = (write_report(run_dir).out_dir / "report.md").read_text(encoding="utf-8")
    headings = _headings(with_toy)
    assert headings.index(TOY_HEADING) == headings.index("Transfer attacks") + 1
    assert headings[headings.index(TOY_HEADING) + 1] == "Out-of-distribution: LiveBench"
    assert [h for h in headings if h != TOY_HEADING] == _headings(original)
    toy = build_report(run, resamples=20, permutations=20, sections=[TOY]).blocks  # the toy's blocks alone
    assert isinstance(toy[1], Paragraph) and toy[1].text.startswith(f"{len(run.frame('merge'))} merge units; ")
    toy_md = f"## {TOY_HEADING}\n\n{toy[1].text}\n\n"
    assert toy_md in with_toy and with_toy.replace(toy_md, "") == original

    removed = registry.remove_section("toy")
    assert removed is TOY and "toy" not in registry.section_names()
    again = (write_report(run_dir).out_dir / "report.md").read_text(encoding="utf-8")
    assert again == original


def test_placement_is_explicit_and_names_are_unique(toy_registered: None) -> None:
    with pytest.raises(ValueError, match="already registered"):
        registry.register_section(TOY)
    with pytest.raises(KeyError, match="no report section named"):
        registry.remove_section("no such section")
    other = Section(name="other", compute=lambda inputs: None, render=lambda data: [])
    with pytest.raises(KeyError):
        registry.register_section(other, before="no such section")
    registry.register_section(other, before="summary")
    try:
        assert registry.section_names()[0] == "other"
    finally:
        registry.remove_section("other")


def test_a_section_sees_only_what_it_declares(run: RunData) -> None:
    sneaky = Section(
        name="sneaky", reads=("merge",), compute=lambda inputs: inputs.frame("attack"), render=lambda d: []
    )
    with pytest.raises(LookupError, match="'attack' frame without declaring it"):
        build_report(run, resamples=20, permutations=20, sections=[sneaky])
    greedy = Section(name="greedy", compute=lambda inputs: inputs.get(ROWS), render=lambda d: [])
    with pytest.raises(LookupError, match="shared data 'rows' without declaring it"):
        build_report(run, resamples=20, permutations=20, sections=[greedy])
    typo = Section(name="typo", reads=("attacks",), compute=lambda inputs: None, render=lambda d: [])
    with pytest.raises(ValueError, match="unknown store kind"):
        build_report(run, resamples=20, permutations=20, sections=[typo])


def test_shared_data_is_computed_once_per_report(run: RunData, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: Counter[str] = Counter()
    for module, name in ((attack_curve, "split_curve"), (attack_curve, "curve_points"), (effects, "effects_frame")):
        original = getattr(module, name)

        def counted(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            calls[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)
    report = build_report(run, resamples=20, permutations=20)
    # The split is read by the summary, the carried rows and lambda selection; the points by the attacked curve, the
    # magnitude axis and the draws; the effects by the warnings, their tables and the provenance.
    assert calls == {"split_curve": 1, "curve_points": 1, "effects_frame": 1}
    assert [b.text for b in report.blocks if isinstance(b, Heading)] == _headings(
        (FIXTURE / "report" / "report.md").read_text(encoding="utf-8")
    )
