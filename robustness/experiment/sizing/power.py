"""The held-out verdict's power, before the study runs (`m3r plan`): per primary comparison (an M3 setting against
its plain merge, per dataset and attack), the smallest difference in the held-out attacked metric that the design
detects with 80% power at the 5% level after Holm over the primary family (robustness/stats/power.py). The
search model's standard deviations are its documented assumptions until fitted on a store; the plan says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robustness.experiment.planning.models import method_settings
from robustness.experiment.spec.config import ExperimentConfig
from robustness.stats.crossed import Components, crossed_test
from robustness.stats.power import ALPHA, POWER, PlannedPower, planned_power, projected
from robustness.stats.search_model import Design, SearchModel

# The share of label-1 rows in each dataset's GLUE validation split (SST-2 444 of 872, CoLA 721 of 1,043): MCC's
# spread depends on it.
POSITIVE_RATE = {"sst2": 444 / 872, "cola": 721 / 1043}
STUDIES = 100  # simulated studies per comparison
TARGET = 0.10  # the difference the plan says how many searches would detect


@dataclass(frozen=True)
class Comparison:
    setting: str  # the configured method (its label)
    dataset: str
    attack: str
    seeds: int  # distinct searches
    search_rows: int

    @property
    def name(self) -> str:
        return f"{self.setting}/{self.dataset}/{self.attack}"


@dataclass(frozen=True)
class PowerPlan:
    comparisons: list[Comparison]
    primary: list[str]  # names of the primary comparisons (Holm runs over these)
    family: int  # comparisons Holm runs over: the primary names in every pair
    power: dict[str, PlannedPower]  # by comparison name; empty without held-out measurement
    assumptions: list[str]

    def as_json(self) -> dict[str, object]:
        return {
            "primary": self.primary,
            "comparisons": [
                {"name": c.name, "seeds": c.seeds, "search_rows": c.search_rows, "primary": c.name in self.primary,
                 **({"measure_rows": p.rows, "metric": p.metric, "se": p.se, "df": p.df, "detectable": p.detectable,
                     "seeds_for_0.10": p.seeds_for(TARGET, self.family)}
                    if (p := self.power.get(c.name)) else {})}
                for c in self.comparisons
            ],
            "assumptions": self.assumptions,
        }  # fmt: skip


def comparisons(cfg: ExperimentConfig) -> list[Comparison]:
    """Every M3-against-plain comparison the held-out section tests: each attacked method setting, dataset and
    attack (one entry per attack name; two entries for one attack on different methods are one comparison each)."""
    labels = [m.name for m, axis in method_settings(cfg) if axis is None]
    out: dict[str, Comparison] = {}
    for spec in cfg.attacks:
        seeds = len(spec.seeds)  # each seed searches its own rows, so even a search that ignores the seed differs
        for setting in spec.methods or labels:
            for dataset in spec.datasets:
                c = Comparison(setting, dataset, spec.attack, seeds, spec.n)
                out.setdefault(c.name, c)
    return list(out.values())


def livebench_names(cfg: ExperimentConfig) -> list[str]:
    """The LiveBench comparisons of the verdict's family: method/livebench/category for each scored method."""
    from robustness.livebench.questions import CATEGORY_OF_TASK

    labels = [m.name for m, axis in method_settings(cfg) if axis is None]
    categories = sorted({CATEGORY_OF_TASK[t] for t in cfg.livebench.tasks})
    return [f"{m}/livebench/{c}" for m in (cfg.livebench.methods or labels) for c in categories]


@dataclass(frozen=True)
class HeldOutCell:
    """One held-out comparison of a finished run, both arms measured on the same seeds: [S, R] attacked
    predictions of the M3 arm and the plain arm, the rows' labels and each arm's clean predictions."""

    name: str  # method/dataset/attack
    metric: str
    m3: np.ndarray
    plain: np.ndarray
    labels: np.ndarray
    clean_m3: np.ndarray
    clean_plain: np.ndarray


def held_out_cells(run_dir: str) -> list[HeldOutCell]:
    """Every held-out comparison a finished run measured in score mode with two seeds or more."""
    from robustness.store.sqlite import Store

    with Store.open_readonly(run_dir) as store:
        frame = store.frame("measure")
    if frame.empty:
        return []
    if "mode" in frame.columns:
        frame = frame[frame["mode"].fillna("score") == "score"]
    frame = frame[frame["pair"] != "reference"]
    setting = frame["model_id"].map(lambda m: str(m).split("/")[1].split("+m3")[0])
    out = []
    for (name, dataset, attack), cell in frame.assign(setting=setting).groupby(["setting", "dataset", "attack"]):
        arms = [cell[cell["m3"].astype(bool) == m3].sort_values("seed") for m3 in (True, False)]
        if any(len(a) < 2 for a in arms) or list(arms[0]["seed"]) != list(arms[1]["seed"]):
            continue
        m3, plain = (np.array(list(arm["attacked_predictions"])) for arm in arms)
        clean_m3, clean_plain = (np.array(arm["clean_predictions"].iloc[0]) for arm in arms)
        out.append(HeldOutCell(f"{name}/{dataset}/{attack}", str(cell["metric_name"].iloc[0]), m3, plain,
                               np.array(arms[0]["labels"].iloc[0]), clean_m3, clean_plain))  # fmt: skip
    return out


def fitted_components(run_dir: str) -> dict[str, Components]:
    """Variance components of every held-out comparison a finished run measured with two seeds or more, by
    comparison name (method/dataset/attack): the crossed test on its stored score-mode measurements."""
    out = {}
    for cell in held_out_cells(run_dir):
        test = crossed_test(cell.m3, cell.plain, cell.labels, cell.metric)
        if test.components is not None:
            out[cell.name] = test.components
    return out


def _fitted_for(c: Comparison, fitted: dict[str, Components]) -> tuple[str, Components] | None:
    """The fitted components of the same comparison, else of the same dataset and attack under another method."""
    if c.name in fitted:
        return c.name, fitted[c.name]
    for name, parts in sorted(fitted.items()):
        if name.split("/", 1)[1] == f"{c.dataset}/{c.attack}":
            return name, parts
    return None


def plan_power(cfg: ExperimentConfig, studies: int = STUDIES, model: SearchModel | None = None,
               fitted: dict[str, Components] | None = None, fitted_from: str = "") -> PowerPlan:  # fmt: skip
    """`fitted`: variance components measured on an earlier run (`fitted_components`), used for every comparison
    they cover; the search model's simulation for the rest."""
    found = comparisons(cfg)
    everything = [c.name for c in found] + livebench_names(cfg)
    primary = list(cfg.eval.primary) if cfg.eval.primary is not None else everything
    base = model or SearchModel()
    measure = cfg.eval.measure_n
    if not measure:
        note = (
            "no held-out measurement (eval.measure_n is off): each found prompt is measured on the rows it was "
            "found on, so no test of M3 against plain is valid over searches; set eval.measure_n for a verdict"
        )
        return PowerPlan(found, primary, len(primary) * len(cfg.pairs), {}, [note])
    power = {}
    used: list[str] = []
    family = len(primary) * len(cfg.pairs)  # every name is compared in every pair
    simulated: dict[tuple[Design, str, float], PlannedPower] = {}  # comparisons of one design share a simulation
    for c in found:
        metric = "mcc" if c.dataset == "cola" else "accuracy"
        hit = _fitted_for(c, fitted or {})
        if hit is not None:
            se, df, bound = projected(hit[1], c.seeds, measure, family)
            power[c.name] = PlannedPower(c.seeds, measure, metric, se, df, bound, c.seeds >= 2, hit[1])
            used.append(f"{c.name} from {hit[0]}")
            continue
        design = Design(seeds=c.seeds, search_rows=c.search_rows, search_pool=cfg.eval.report_n, measure_rows=measure)
        rate = POSITIVE_RATE.get(c.dataset, 0.5)
        if (design, metric, rate) not in simulated:
            m = SearchModel(**{**base.__dict__, "positive_rate": rate})
            simulated[design, metric, rate] = planned_power(design, metric, family, m, studies, seed=0)
        power[c.name] = simulated[design, metric, rate]
    assumptions = [
        f"the crossed seeds x rows test at the {ALPHA:.0%} level, {POWER:.0%} power, Holm over {family} primary "
        f"comparison(s) ({len(primary)} per pair, {sum('/livebench/' in n for n in primary)} of them LiveBench "
        "categories, compared over questions) taken at its strictest (alpha / m); detectable: (t + t) x the median "
        "standard error over "
        f"{studies} studies simulated with the search model under no true difference",
        f"search model (logit scale, assumed, not fitted on a store): row SD {base.row_sd}, arm x row SD "
        f"{base.arm_row_sd}, candidate SD {base.candidate_sd}, candidate x row SD {base.candidate_row_sd}, "
        f"{base.candidates} candidate prompts per search; clean logit {base.clean}, attacked {base.base}",
        "one seed: the test holds its one found prompt fixed (conditional on it)",
    ]
    if used:
        assumptions.insert(1, f"variance components (search, row, rest) measured on {fitted_from or 'a run'}'s "
                              f"held-out comparisons, projected onto this design: {'; '.join(used)}; the search "
                              "model's simulation for the other comparisons")  # fmt: skip
    return PowerPlan(found, primary, family, power, assumptions)
