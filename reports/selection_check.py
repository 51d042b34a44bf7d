"""Does lambda selection hold up? Every M3 candidate on the selection rows beside its plain merge, under every
criterion, and again over bootstrap resamples of the selection rows (README, "Lambda selection").

For each (pair, configured method) the stored selection-row predictions of the candidates, the plain merge and the
references (base and experts) are resampled together, one set of row draws per dataset, so a resample is the
selection that a different draw of the same number of rows would have made. Per candidate and task: the metric,
its normalised gain over the base and its difference from the plain merge, each with a 95% percentile interval; a
candidate whose difference interval lies below 0 on some task is "below plain". Per criterion: how often each
candidate wins, and how often the winner is a candidate below plain.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from reports.document import Table
from reports.table3 import DATASET_ORDER
from reports.variants import DATASET_LABEL, Choice
from robustness.metrics import METRICS
from robustness.stats.bootstrap import derived_seed
from robustness.stats.resample import batch_metric

CRITERIA = ("normalised_gain", "worst_task", "mean_metric")
LEVEL = 0.95
CANDIDATE_COLUMNS = [
    "pair", "setting", "model_id", "alpha", "draw", "lambda", "dataset", "metric_name", "metric", "metric_low",
    "metric_high", "gain", "gain_low", "gain_high", "vs_plain", "vs_plain_low", "vs_plain_high", "below_plain",
    *[f"wins_{c}" for c in CRITERIA], "chosen",
]  # fmt: skip
CRITERION_COLUMNS = [
    "pair", "setting", "criterion", "study_criterion", "pick", "pick_share", "below_plain_share", "resamples",
]  # fmt: skip


@dataclass(frozen=True)
class SelectionCheck:
    candidates: pd.DataFrame  # one row per candidate and dataset (CANDIDATE_COLUMNS)
    criteria: pd.DataFrame  # one row per (pair, method, criterion) (CRITERION_COLUMNS)


@dataclass(frozen=True)
class Scores:
    """One model's metric on one dataset's selection rows: observed, and on each resample (same draws for all)."""

    observed: float
    resampled: np.ndarray


def _interval(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if len(finite) < 0.975 * len(values):  # undefined in too many resamples (a denominator near 0): no interval
        return float("nan"), float("nan")
    low, high = np.percentile(finite, [100 * (1 - LEVEL) / 2, 100 * (1 + LEVEL) / 2])
    return float(low), float(high)


def _scores(frame: pd.DataFrame, model_ids: Sequence[str], dataset: str, resamples: int,
            seed: int) -> dict[str, Scores] | None:  # fmt: skip
    """Every listed model's scores on `dataset`, or None when one is missing or scored other rows."""
    rows = {r.model_id: r for r in frame[frame.dataset == dataset].itertuples(index=False)}
    if any(m not in rows for m in model_ids):
        return None
    first = rows[model_ids[0]]
    indices, labels = list(first.indices), np.asarray(first.labels)
    if any(list(rows[m].indices) != indices for m in model_ids):
        return None
    draws = np.random.default_rng(seed).integers(0, len(indices), size=(resamples, len(indices)))
    out = {}
    for m in model_ids:
        predictions = np.asarray(rows[m].predictions)
        observed = float(METRICS[first.metric_name](labels.tolist(), predictions.tolist()))
        out[m] = Scores(observed, batch_metric(first.metric_name, labels[draws], predictions[draws]))
    return out


def _gain(metric: np.ndarray | float, base: np.ndarray | float, best: np.ndarray | float) -> np.ndarray:
    """(metric - base) / (best expert - base); NaN where no expert beats the base."""
    m, b, e = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (metric, base, best)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(e - b > 0, (m - b) / (e - b), np.nan)


def criterion_scores(criterion: str, metrics: np.ndarray, gains: np.ndarray | None) -> np.ndarray:
    """Each candidate's score under `criterion`: `metrics` and `gains` are (candidates, datasets, ...) arrays; a
    normalised criterion falls back to the mean metric where no dataset has a gain (as selection does)."""
    raw = metrics.mean(axis=1)
    if criterion == "mean_metric" or gains is None:
        return raw
    defined = np.isfinite(gains).any(axis=1)
    filled = np.where(defined[:, None], gains, 0.0)  # all-NaN columns fall back to `raw` below, without a warning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pooled = np.nanmin(filled, axis=1) if criterion == "worst_task" else np.nanmean(filled, axis=1)
    return np.where(defined, pooled, raw)


def _winners(scores: np.ndarray) -> np.ndarray:
    """Index of the best candidate per column (ties: the first listed, as selection breaks them)."""
    return np.argmax(np.where(np.isfinite(scores), scores, -np.inf), axis=0)


def check_selection(clean: pd.DataFrame, selection: pd.DataFrame, choices: Sequence[Choice], resamples: int,
                    seed: int) -> SelectionCheck:  # fmt: skip
    """Candidates and criteria of every selection whose plain merge was scored on the selection rows."""
    cand_rows: list[dict[str, object]] = []
    crit_rows: list[dict[str, object]] = []
    sel_clean = clean[clean["split"] == "selection"] if len(clean) else clean
    records = {str(r.chosen_model_id): r for r in selection.itertuples(index=False)} if len(selection) else {}
    for choice in choices:
        record = records.get(choice.model_id)
        if record is None or choice.plain_model_id is None:
            continue
        candidates = [dict(c) for c in record.candidates]
        ids = [str(c["model_id"]) for c in candidates]
        refs = ["base", *(f"expert/{n}" for n in choice.pair.split("+"))]
        datasets = sorted(set(sel_clean[sel_clean.model_id.isin(ids)].dataset))
        per_dataset = {}
        for d in datasets:
            name_seed = derived_seed(seed, "selection", choice.pair, choice.setting or "", d)
            with_refs = _scores(sel_clean, [*ids, choice.plain_model_id, *refs], d, resamples, name_seed)
            per_dataset[d] = with_refs or _scores(sel_clean, [*ids, choice.plain_model_id], d, resamples, name_seed)
        if not datasets or any(v is None for v in per_dataset.values()):
            continue  # the plain merge was not scored on the selection rows (a store from before it was)
        scores = {d: v for d, v in per_dataset.items() if v is not None}
        has_refs = all("base" in s for s in scores.values())
        obs_metric = np.array([[scores[d][m].observed for d in datasets] for m in ids])  # (candidates, datasets)
        res_metric = np.array([[scores[d][m].resampled for d in datasets] for m in ids])  # (..., resamples)
        obs_gain = res_gain = None
        if has_refs:
            base_obs = np.array([scores[d]["base"].observed for d in datasets])
            base_res = np.array([scores[d]["base"].resampled for d in datasets])
            experts = [m for m in refs if m != "base"]
            best_obs = np.array([max(scores[d][e].observed for e in experts) for d in datasets])
            best_res = np.array([np.max([scores[d][e].resampled for e in experts], axis=0) for d in datasets])
            obs_gain = _gain(obs_metric, base_obs, best_obs)
            res_gain = _gain(res_metric, base_res[None], best_res[None])
        plain_obs = np.array([scores[d][choice.plain_model_id].observed for d in datasets])
        plain_res = np.array([scores[d][choice.plain_model_id].resampled for d in datasets])
        diff_obs, diff_res = obs_metric - plain_obs, res_metric - plain_res[None]
        below = np.zeros((len(ids), len(datasets)), dtype=bool)
        for i in range(len(ids)):
            for j in range(len(datasets)):
                below[i, j] = _interval(diff_res[i, j])[1] < 0
        below_any = np.asarray(below.any(axis=1))
        wins: dict[str, np.ndarray] = {}
        criteria = CRITERIA if has_refs else ("mean_metric",)
        for criterion in criteria:
            winners = _winners(criterion_scores(criterion, res_metric, res_gain))
            wins[criterion] = np.bincount(winners, minlength=len(ids)) / resamples
            pick = int(_winners(criterion_scores(criterion, obs_metric[..., None],
                                                 None if obs_gain is None else obs_gain[..., None]))[0])  # fmt: skip
            crit_rows.append({
                "pair": choice.pair, "setting": choice.setting, "criterion": criterion,
                "study_criterion": criterion == getattr(record, "criterion_name", "mean_metric"), "pick": ids[pick],
                "pick_share": float(wins[criterion][pick]), "below_plain_share": float(below_any[winners].mean()),
                "resamples": resamples,
            })  # fmt: skip
        for i, c in enumerate(candidates):
            lambdas = c.get("lambdas") or []
            for j, d in enumerate(datasets):
                m_low, m_high = _interval(res_metric[i, j])
                g_low, g_high = (float("nan"),) * 2 if res_gain is None else _interval(res_gain[i, j])
                v_low, v_high = _interval(diff_res[i, j])
                cand_rows.append({
                    "pair": choice.pair, "setting": choice.setting, "model_id": ids[i], "alpha": c.get("alpha"),
                    "draw": c.get("draw"), "lambda": lambdas[0] if lambdas else None, "dataset": d,
                    "metric_name": str(sel_clean[sel_clean.dataset == d].metric_name.iloc[0]),
                    "metric": float(obs_metric[i, j]), "metric_low": m_low, "metric_high": m_high,
                    "gain": None if obs_gain is None else float(obs_gain[i, j]), "gain_low": g_low,
                    "gain_high": g_high, "vs_plain": float(diff_obs[i, j]), "vs_plain_low": v_low,
                    "vs_plain_high": v_high, "below_plain": bool(below[i, j]),
                    **{f"wins_{k}": float(wins[k][i]) if k in wins else None for k in CRITERIA},
                    "chosen": ids[i] == choice.model_id,
                })  # fmt: skip
    return SelectionCheck(pd.DataFrame(cand_rows, columns=CANDIDATE_COLUMNS),
                          pd.DataFrame(crit_rows, columns=CRITERION_COLUMNS))  # fmt: skip


def chosen_below_plain(clean: pd.DataFrame, choices: Sequence[Choice], resamples: int, seed: int) -> list[str]:
    """A warning for each chosen M3 merge that is worse than its plain merge on a task by more than the 95%
    interval of the difference on the report rows (both scored on the same rows)."""
    out = []
    report = clean[clean["split"] == "report"] if len(clean) else clean
    for choice in choices:
        if choice.plain_model_id is None:
            continue
        for d in sorted(set(report[report.model_id == choice.model_id].dataset)):
            name_seed = derived_seed(seed, "chosen-vs-plain", choice.pair, choice.setting or "", d)
            scores = _scores(report, [choice.model_id, choice.plain_model_id], d, resamples, name_seed)
            if scores is None:
                continue
            chosen, plain = scores[choice.model_id], scores[choice.plain_model_id]
            low, high = _interval(chosen.resampled - plain.resampled)
            if high < 0:
                metric = str(report[report.dataset == d].metric_name.iloc[0])
                out.append(
                    f"the chosen M3 merge {choice.model_id} is below its plain merge on {d} {metric}: "
                    f"{chosen.observed:.3f} vs {plain.observed:.3f}, "
                    f"difference {chosen.observed - plain.observed:+.3f} "
                    f"[{low:+.3f}, {high:+.3f}] on the report rows; its robustness numbers are those of a merge that "
                    "lost that task (see Lambda selection)"
                )
    return out


def _cell(x: float | None, low: float, high: float, signed: bool = False) -> str:
    if x is None or not np.isfinite(x):
        return "—"
    v = f"{x:+.3f}" if signed else f"{x:.3f}"
    return v if not (np.isfinite(low) and np.isfinite(high)) else f"{v} [{low:+.2f}, {high:+.2f}]"


def candidate_table(frame: pd.DataFrame) -> Table:
    datasets = sorted(set(frame.dataset), key=lambda d: (DATASET_ORDER.get(d, 9), d))
    header = ["Method", "Candidate", "λ"]
    for d in datasets:
        label = DATASET_LABEL.get(d, d)
        header += [f"{label} metric", f"{label} gain", f"{label} vs plain"]
    header += [f"Wins ({c})" for c in CRITERIA]
    rows = []
    for (pair, setting, model_id), g in frame.groupby(["pair", "setting", "model_id"], sort=False):
        first = g.iloc[0]
        lam = "—" if first["lambda"] is None or pd.isna(first["lambda"]) else f"{first['lambda']:.3f}"
        row = [f"{pair} {setting}", model_id.rsplit("+m3/", 1)[-1] + (" (chosen)" if first.chosen else ""), lam]
        for d in datasets:
            hit = g[g.dataset == d]
            if hit.empty:
                row += ["—"] * 3
                continue
            r = hit.iloc[0]
            row += [_cell(r.metric, r.metric_low, r.metric_high), _cell(r.gain, r.gain_low, r.gain_high),
                    _cell(r.vs_plain, r.vs_plain_low, r.vs_plain_high, signed=True)
                    + (" below plain" if r.below_plain else "")]  # fmt: skip
        row += ["—" if pd.isna(first[f"wins_{c}"]) else f"{100 * first[f'wins_{c}']:.0f}%" for c in CRITERIA]
        rows.append(row)
    notes = [
        "Each M3 candidate on the selection rows: its metric, its normalised gain over the base ((merged - base) / "
        "(best expert - base)) and its difference from the plain merge, each with a 95% percentile interval over "
        "bootstrap resamples of the selection rows (all models resampled together). 'below plain': the difference's "
        "interval lies below 0. Wins: the share of resamples in which the criterion picks the candidate.",
    ]
    return Table("selection_candidates", "Lambda selection: every candidate on the selection rows", frame, header,
                 rows, notes)  # fmt: skip


def criterion_table(frame: pd.DataFrame) -> Table:
    header = ["Method", "Criterion", "Picks", "Same pick in resamples", "Picks a candidate below plain"]
    rows = [
        [f"{r.pair} {r.setting}", r.criterion + (" (this study's)" if r.study_criterion else ""),
         str(r.pick).rsplit("+m3/", 1)[-1], f"{100 * r.pick_share:.0f}%", f"{100 * r.below_plain_share:.0f}%"]
        for r in frame.itertuples(index=False)
    ]  # fmt: skip
    notes = [
        f"Over {int(frame.resamples.iloc[0]) if len(frame) else 0} bootstrap resamples of the selection rows: how "
        "often each criterion picks the candidate it picks on all rows, and how often it picks a candidate that is "
        "below the plain merge on some task. normalised_gain: mean normalised gain over the tasks; worst_task: the "
        "smallest; mean_metric: the mean raw metric.",
    ]
    return Table("selection_criteria", "Lambda selection under resampling", frame, header, rows, notes)
