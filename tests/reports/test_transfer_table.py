"""The transfer table on a hand-made store (tests/reports/transfer_store.py): values by hand, intervals from the
joint row bootstrap written as a loop, the target's own attack beside it, and replays kept out of Table 3."""

from __future__ import annotations

import pandas as pd
import pytest

from reports.build import Report, build_report
from reports.load import load_run
from robustness.stats import ArmRun, derived_seed
from tests.reports import transfer_store as ts
from tests.reports.synthetic import right_on
from tests.test_arm_interval import loop_bootstrap

RESAMPLES = 400


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, dict[str, str]]:
    folder = tmp_path_factory.mktemp("runs") / "transfer"
    keys = ts.build(folder)
    return build_report(load_run(folder), resamples=RESAMPLES, seed=0, permutations=99), keys


def table(report: Report, name: str) -> pd.DataFrame:
    return next(t for t in report.tables if t.name == name).data


def runs(model_id: str, counts: tuple[int, int]) -> dict[str, ArmRun]:
    out = {}
    for seed, k in enumerate(counts):
        labels = ts.sst2_labels(ts.ROWS[seed])
        clean = right_on(labels, ts.CLEAN[model_id])
        out[f"p0/seed={seed}"] = ArmRun(ts.ROWS[seed], labels, clean, right_on(labels, k))
    return out


def test_one_row_per_source_and_target_with_hand_computed_values(built: tuple[Report, dict[str, str]]) -> None:
    frame = table(built[0], "transfer").set_index(["source_model_id", "model_id"])
    assert sorted(frame.index) == sorted(ts.REPLAYED)
    assert set(frame["pair"]) == {ts.PAIR}  # the expert target takes its source's pair
    for (source, target), (a0, a1) in ts.REPLAYED.items():
        row = frame.loc[(source, target)]
        clean = ts.CLEAN[target] / 10
        assert row.clean == pytest.approx(clean)
        assert row.attacked == pytest.approx((a0 + a1) / 20)
        assert row.pdr == pytest.approx(((clean - a0 / 10) / clean + (clean - a1 / 10) / clean) / 2)
        o0, o1 = ts.OWN[target]
        assert row.own_attacked == pytest.approx((o0 + o1) / 20)
        assert row.own_pdr == pytest.approx(((clean - o0 / 10) / clean + (clean - o1 / 10) / clean) / 2)
        s0, s1 = ts.OWN[source]
        assert row.source_attacked == pytest.approx((s0 + s1) / 20)
        assert (row.n_seeds, row.samples_per_seed, row.n_rows) == (2, "10", 15)
    assert frame.loc[(ts.EXPERT, ts.CHOSEN)].target == "Task Arithmetic + M3"
    assert frame.loc[(ts.PLAIN, ts.EXPERT)].target == "expert: sst2"


def test_intervals_follow_the_joint_row_bootstrap(built: tuple[Report, dict[str, str]]) -> None:
    frame = table(built[0], "transfer").set_index(["source_model_id", "model_id"])
    for (source, target), counts in ts.REPLAYED.items():
        name = (ts.PAIR, source, target, "sst2", "stresstest", "paper")
        expected = loop_bootstrap(runs(target, counts), "accuracy", RESAMPLES, derived_seed(0, "transfer", *name))
        own = loop_bootstrap(runs(target, ts.OWN[target]), "accuracy", RESAMPLES, derived_seed(0, "own", *name))
        row = frame.loc[(source, target)]
        for q in ("attacked", "pdr"):
            assert (row[f"{q}_low"], row[f"{q}_high"]) == (pytest.approx(expected[q][0]), pytest.approx(expected[q][1]))
            assert (row[f"own_{q}_low"], row[f"own_{q}_high"]) == (pytest.approx(own[q][0]), pytest.approx(own[q][1]))
            assert row[f"{q}_low"] <= row[q] <= row[f"{q}_high"]


def test_replays_and_expert_attacks_stay_out_of_table3(built: tuple[Report, dict[str, str]]) -> None:
    report, keys = built
    t3 = table(report, "table3")
    assert sorted(set(t3["model_id"])) == sorted([ts.PLAIN, ts.CHOSEN])
    own = {keys[f"own/{m}/{s}"] for m in (ts.PLAIN, ts.CHOSEN) for s in (0, 1)}
    assert set(";".join(t3["unit_keys"]).split(";")) == own
    transfer = table(report, "transfer")
    assert set(";".join(transfer["unit_keys"]).split(";")) == {k for n, k in keys.items() if n.startswith("replay/")}
    notes = " ".join(next(t for t in report.tables if t.name == "transfer").notes)
    assert "found against another model" in notes and "seeds × rows per seed" in notes
