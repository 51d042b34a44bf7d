"""The held-out verdict's power, before the study runs (`m3r plan`): per primary comparison (an M3 setting against
its plain merge, per dataset and attack), the smallest difference in the held-out attacked metric that the design
detects with 80% power at the 5% level after Holm over the primary family (robustness/stats/power.py). The
search model's standard deviations are its documented assumptions until fitted on a store; the plan says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from robustness.experiment.planning.models import method_settings
from robustness.experiment.spec.config import ExperimentConfig
from robustness.stats.power import ALPHA, POWER, PlannedPower, planned_power
from robustness.stats.search_model import Design, SearchModel

# The share of label-1 rows in each dataset's GLUE validation split (SST-2 444 of 872, CoLA 721 of 1,043): MCC's
# spread depends on it.
POSITIVE_RATE = {"sst2": 444 / 872, "cola": 721 / 1043}
SEEDLESS = {"stresstest"}  # attacks whose search ignores the seed: one search however many seeds are listed
STUDIES = 100  # simulated studies per comparison


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
    power: dict[str, PlannedPower]  # by comparison name; empty without held-out measurement
    assumptions: list[str]

    def as_json(self) -> dict[str, object]:
        return {
            "primary": self.primary,
            "comparisons": [
                {"name": c.name, "seeds": c.seeds, "search_rows": c.search_rows, "primary": c.name in self.primary,
                 **({"measure_rows": p.rows, "metric": p.metric, "se": p.se, "df": p.df, "detectable": p.detectable}
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
        seeds = 1 if spec.attack in SEEDLESS else len(spec.seeds)
        for setting in spec.methods or labels:
            for dataset in spec.datasets:
                c = Comparison(setting, dataset, spec.attack, seeds, spec.n)
                out.setdefault(c.name, c)
    return list(out.values())


def plan_power(cfg: ExperimentConfig, studies: int = STUDIES, model: SearchModel | None = None) -> PowerPlan:
    found = comparisons(cfg)
    primary = list(cfg.eval.primary) if cfg.eval.primary is not None else [c.name for c in found]
    base = model or SearchModel()
    measure = cfg.eval.measure_n
    if not measure:
        note = (
            "no held-out measurement (eval.measure_n is off): each found prompt is measured on the rows it was "
            "found on, so no test of M3 against plain is valid over searches; set eval.measure_n for a verdict"
        )
        return PowerPlan(found, primary, {}, [note])
    power = {}
    for c in found:
        metric = "mcc" if c.dataset == "cola" else "accuracy"
        design = Design(seeds=c.seeds, search_rows=c.search_rows, search_pool=cfg.eval.report_n, measure_rows=measure)
        m = SearchModel(**{**base.__dict__, "positive_rate": POSITIVE_RATE.get(c.dataset, 0.5)})
        power[c.name] = planned_power(design, metric, len(primary), m, studies, seed=0)
    assumptions = [
        f"the crossed seeds x rows test at the {ALPHA:.0%} level, {POWER:.0%} power, Holm over {len(primary)} primary "
        "comparison(s) taken at its strictest (alpha / m); detectable: (t + t) x the median standard error over "
        f"{studies} studies simulated with the search model under no true difference",
        f"search model (logit scale, assumed, not fitted on a store): row SD {base.row_sd}, arm x row SD "
        f"{base.arm_row_sd}, candidate SD {base.candidate_sd}, candidate x row SD {base.candidate_row_sd}, "
        f"{base.candidates} candidate prompts per search; clean logit {base.clean}, attacked {base.base}",
        "one search for StressTest however many seeds are listed (its search ignores the seed): its test holds the "
        "found prompt fixed",
    ]
    return PowerPlan(found, primary, power, assumptions)
