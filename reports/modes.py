"""Score mode against generated answers: per model and dataset, on the rows where a clean unit ran both modes (its
stored `mode_check`), the share of generated answers that name a label under each reading rule, generate mode's
metric under each rule and score mode's on the same rows, with intervals (README, "Score mode and generated
answers")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from reports.document import Table
from reports.formatting import keys_cell, num, value_interval
from reports.variants import DATASET_LABEL, METHOD_LABEL, METRIC_LABEL
from robustness.catalog import DEFAULT_READING, READINGS
from robustness.metrics import METRICS, UNKNOWN, accuracy
from robustness.parsing import parse_label
from robustness.stats.single import metric_interval

MODE_COLUMNS = [
    "pair", "model_id", "method", "m3", "dataset", "split", "prompt", "metric_name", "n", "study_reading",
    "score_metric", "score_low", "score_high", "score_accuracy",
    *[f"{rule}_{part}" for rule in READINGS for part in (
        "parsed", "parsed_low", "parsed_high", "metric", "low", "high", "accuracy", "agreement")],
    "unit_keys",
]  # fmt: skip


def _checks(clean: pd.DataFrame) -> pd.DataFrame:
    if clean.empty or "mode_check" not in clean.columns:
        return clean.iloc[0:0]
    return clean[clean["mode_check"].map(lambda c: isinstance(c, dict))]


def wilson(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a share (it stays inside [0, 1] and is not degenerate at 0 or n successes)."""
    low, high = proportion_confint(successes, n, alpha=1 - level, method="wilson")
    # Its formula leaves rounding dust at 0 and n successes, where the bounds are exactly 0 and 1.
    return (0.0 if successes == 0 else float(low)), (1.0 if successes == n else float(high))


def _metric(metric_name: str, labels: Sequence[int], predictions: Sequence[int], resamples: int,
            seed: int) -> tuple[float, float, float]:  # fmt: skip
    low, high = metric_interval(metric_name, labels, predictions, resamples=resamples, seed=seed)
    return float(METRICS[metric_name](list(labels), list(predictions))), low, high


def rule_cells(check: dict[str, Any], dataset: str, metric_name: str, rule: str, resamples: int,
               seed: int) -> dict[str, float]:  # fmt: skip
    """One reading rule applied again to a stored check's raw answers: parse share, metric and accuracy."""
    labels, answers = check["labels"], check["answers"]
    read = [parse_label(a, dataset, rule) for a in answers]
    parsed = sum(p != UNKNOWN for p in read)
    value, low, high = _metric(metric_name, labels, read, resamples, seed)
    p_low, p_high = wilson(parsed, len(read))
    agree = sum(a == b for a, b in zip(read, check["scored"], strict=True)) / len(read)
    return {f"{rule}_parsed": parsed / len(read), f"{rule}_parsed_low": p_low, f"{rule}_parsed_high": p_high,
            f"{rule}_metric": value, f"{rule}_low": low, f"{rule}_high": high,
            f"{rule}_accuracy": accuracy(labels, read), f"{rule}_agreement": agree}  # fmt: skip


def mode_frame(clean: pd.DataFrame, resamples: int, seed: int) -> pd.DataFrame:
    """One row per clean unit that ran both modes: score mode and each reading rule on the same rows."""
    rows = []
    for r in _checks(clean).itertuples(index=False):
        check: dict[str, Any] = r.mode_check
        value, low, high = _metric(r.metric_name, check["labels"], check["scored"], resamples, seed)
        row: dict[str, Any] = {
            "pair": r.pair, "model_id": r.model_id, "method": r.method, "m3": bool(r.m3), "dataset": r.dataset,
            "split": r.split, "prompt": r.prompt, "metric_name": r.metric_name, "n": len(check["indices"]),
            "study_reading": check["reading"], "score_metric": value, "score_low": low, "score_high": high,
            "score_accuracy": accuracy(check["labels"], check["scored"]), "unit_keys": keys_cell([r.key]),
        }  # fmt: skip
        for rule in READINGS:
            row.update(rule_cells(check, r.dataset, r.metric_name, rule, resamples, seed))
        rows.append(row)
    frame = pd.DataFrame(rows, columns=MODE_COLUMNS)
    return frame.sort_values(["pair", "dataset", "model_id", "prompt"], kind="stable").reset_index(drop=True)


def in_mode(measures: pd.DataFrame, mode: str) -> pd.DataFrame:
    """The stored measurements made in `mode` (records from before generate-mode measurement are score mode)."""
    if measures.empty:
        return measures
    stored = measures["mode"] if "mode" in measures.columns else pd.Series(None, index=measures.index)
    return measures[stored.fillna("score") == mode]


FOUND_COLUMNS = [
    "pair", "model_id", "method", "m3", "dataset", "attack", "seed", "metric_name", "n", "reading",
    "score_clean", "score_attacked", "generate_clean", "generate_attacked",
    *[f"{rule}_parsed_attacked" for rule in READINGS], "unit_keys",
]  # fmt: skip


def found_prompt_frame(measures: pd.DataFrame) -> pd.DataFrame:
    """Each found prompt measured on the held-out rows in both modes: score mode's clean and attacked metric beside
    generate mode's, and the share of attacked answers that name a label under each rule."""
    score = in_mode(measures, "score")
    by_source = {r.source_key: r for r in score.itertuples(index=False)}
    rows = []
    for g in in_mode(measures, "generate").itertuples(index=False):
        s = by_source.get(g.source_key)
        if s is None:
            continue
        answers: list[str] = list(g.attacked_answers)
        row: dict[str, Any] = {
            "pair": g.pair, "model_id": g.model_id, "method": g.method, "m3": bool(g.m3), "dataset": g.dataset,
            "attack": g.attack, "seed": int(g.seed), "metric_name": g.metric_name, "n": len(g.indices),
            "reading": g.reading, "score_clean": s.clean_metric, "score_attacked": s.attacked_metric,
            "generate_clean": g.clean_metric, "generate_attacked": g.attacked_metric,
            "unit_keys": keys_cell([s.key, g.key]),
        }  # fmt: skip
        for rule in READINGS:
            row[f"{rule}_parsed_attacked"] = sum(parse_label(a, g.dataset, rule) != UNKNOWN for a in answers) / len(
                answers
            )
        rows.append(row)
    frame = pd.DataFrame(rows, columns=FOUND_COLUMNS)
    return frame.sort_values(["pair", "dataset", "attack", "model_id", "seed"], kind="stable").reset_index(drop=True)


def found_prompt_table(frame: pd.DataFrame) -> Table:
    header = ["Model", "Dataset", "Attack", "Seed", "n", "Score: clean", "Score: attacked", "Generated: clean",
              "Generated: attacked", *[f"Attacked answers parsed ({rule})" for rule in READINGS]]  # fmt: skip
    rows = [
        [r.model_id, f"{DATASET_LABEL.get(r.dataset, r.dataset)} {METRIC_LABEL.get(r.metric_name, r.metric_name)}",
         r.attack, str(r.seed), str(r.n), num(r.score_clean), num(r.score_attacked), num(r.generate_clean),
         num(r.generate_attacked), *[f"{100 * getattr(r, f'{rule}_parsed_attacked'):.0f}%" for rule in READINGS]]
        for r in frame.itertuples(index=False)
    ]  # fmt: skip
    notes = [
        "The prompt each score-mode search found, measured with the clean prompt on the held-out rows in both modes "
        f"(generated answers read by {', '.join(sorted(set(frame['reading']))) or DEFAULT_READING}): whether what "
        "the search found in label-word scores also hurts the answers the model writes.",
    ]
    return Table("found_prompts_by_mode", "Found prompts in score and generate mode", frame, header, rows, notes)


def _share(x: float, low: float, high: float) -> str:
    return f"{100 * x:.0f}% [{100 * low:.0f}%, {100 * high:.0f}%]"


def mode_table(frame: pd.DataFrame) -> Table:
    header = ["Model", "Dataset", "n", "Score mode"]
    for rule in READINGS:
        header += [f"Parsed ({rule})", f"Generated ({rule})"]
    rows = []
    for r in frame.itertuples(index=False):
        d = r._asdict()
        metric = METRIC_LABEL.get(r.metric_name, r.metric_name)
        row = [f"{r.model_id} ({METHOD_LABEL.get(r.method, r.method)})", f"{DATASET_LABEL.get(r.dataset, r.dataset)} "
               f"{metric}", str(r.n), value_interval(r.score_metric, r.score_low, r.score_high)]  # fmt: skip
        for rule in READINGS:
            row += [_share(d[f"{rule}_parsed"], d[f"{rule}_parsed_low"], d[f"{rule}_parsed_high"]),
                    value_interval(d[f"{rule}_metric"], d[f"{rule}_low"], d[f"{rule}_high"])]  # fmt: skip
        rows.append(row)
    rules = sorted(set(frame["study_reading"]))
    notes = [
        "Both modes on the same rows of each model (the first agreement_n report rows). Score mode: the label word "
        "with the higher next-token log-probability. Generated: greedy answers read as labels; an answer that "
        "names no label counts as wrong. Parsed: the share of answers that name a label (Wilson 95% interval). "
        "Metric intervals: 95% percentile bootstrap over rows (model and prompt fixed).",
        f"last_word is PromptBench's rule (the last word of the answer); sole_label reads the one label word the "
        f"answer names. This study's generated numbers use {', '.join(rules) or DEFAULT_READING}.",
    ]
    return Table("score_vs_generate", "Score mode against generated answers", frame, header, rows, notes)
