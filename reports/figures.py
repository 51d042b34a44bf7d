"""The report's figures as PNG bytes (matplotlib, Agg backend): lambda curves, attacked lambda curves, the magnitude
grid, LiveBench bars, forest plot.

Fixed size, DPI and fonts and no metadata that changes between runs, so the same store gives the same bytes.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd

from reports.curves import method_text
from reports.effects import quantity_label
from reports.formatting import pvalue
from reports.table3 import DATASET_ORDER
from reports.variants import ATTACK_LABEL, DATASET_LABEL, METHOD_ORDER

DPI = 100
DODGE = 0.008  # lambda offset between the clean and attacked series of a curve panel, so their bars do not overlap
plt.rcParams.update({"font.family": "DejaVu Sans", "font.size": 9})


def _png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def lambda_curves(frame: pd.DataFrame) -> bytes:
    """One panel per (pair, method) and dataset: metric against lambda_1 for every candidate."""
    setting = frame["setting"] if "setting" in frame else frame["method"]
    panels = sorted(set(zip(frame["pair"], frame["method"], setting, strict=True)),
                    key=lambda p: (p[0], METHOD_ORDER.get(p[1], 9), p[2]))  # fmt: skip
    datasets = sorted(set(frame["dataset"]), key=lambda d: (DATASET_ORDER.get(d, 9), d))
    fig, axes = plt.subplots(
        len(panels), len(datasets), figsize=(4.2 * len(datasets), 2.8 * len(panels)), squeeze=False
    )
    for i, (pair, method, name) in enumerate(panels):
        for j, dataset in enumerate(datasets):
            ax = axes[i][j]
            g = frame[(frame.pair == pair) & (setting == name) & (frame.dataset == dataset)]
            g = g[g["lambda"].notna()].sort_values("lambda")
            for column, style, label in (
                ("selection_metric", "o-", "selection (clean)"),
                ("report_clean", "s--", "report (clean)"),
                ("report_attacked", "^:", "report (attacked)"),
            ):
                h = g[g[column].notna()]
                if len(h):
                    ax.plot(h["lambda"], h[column], style, label=label, markersize=4)
            chosen = g[g["chosen"]]
            if len(chosen):
                ax.axvline(float(chosen["lambda"].iloc[0]), color="grey", linewidth=0.8, linestyle="-.")
                ax.plot(chosen["lambda"], chosen["selection_metric"], "*", color="black", markersize=10,
                        label="chosen")  # fmt: skip
            ax.set_title(f"{pair}: {method_text(method, name)} + M3, {DATASET_LABEL.get(dataset, dataset)}")
            ax.set_xlabel("λ (weight of the first model)")
            ax.set_ylabel("metric")
            ax.set_xlim(0, 1)
            ax.grid(alpha=0.3)
            if i == 0 and j == 0:
                ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def ood_bars(frame: pd.DataFrame) -> bytes:
    """Grouped bars: one group per LiveBench task, one bar per variant."""
    tasks = sorted({(r.category, r.task) for r in frame.itertuples(index=False)})
    variants = list(dict.fromkeys(f"{r.pair}: {r.variant}" for r in frame.itertuples(index=False)))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 + 0.35 * len(tasks) * len(variants)), 3.6))
    width = 0.8 / max(1, len(variants))
    for k, name in enumerate(variants):
        values = []
        for c, t in tasks:
            hit = frame[(frame.pair + ": " + frame.variant == name) & (frame.category == c) & (frame.task == t)]
            values.append(float(hit["mean"].iloc[0]) if len(hit) else 0.0)
        ax.bar([x + k * width for x in range(len(tasks))], values, width, label=name)
    ax.set_xticks([x + width * (len(variants) - 1) / 2 for x in range(len(tasks))])
    ax.set_xticklabels([t for _, t in tasks])
    ax.set_ylabel("LiveBench score")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def forest_plot(effects: pd.DataFrame) -> bytes:
    """M3 - plain differences with 95% intervals; one panel per quantity, Holm-adjusted p at the right."""
    quantities = [q for q in ("attacked", "pdr") if q in set(effects["quantity"])]
    labels = list(
        dict.fromkeys(_forest_label(r.pair, r.b_variant, r.dataset, r.attack) for r in effects.itertuples(index=False))
    )
    fig, axes = plt.subplots(1, len(quantities), figsize=(6.0 * len(quantities), 0.9 + 0.32 * len(labels)),
                             squeeze=False, sharey=True)  # fmt: skip
    for ax, quantity in zip(axes[0], quantities, strict=True):
        g = effects[effects.quantity == quantity]
        for r in g.itertuples(index=False):
            label = _forest_label(r.pair, r.b_variant, r.dataset, r.attack)
            y = len(labels) - 1 - labels.index(label)
            if pd.isna(r.estimate):
                ax.text(0, y, "undefined", va="center", ha="center", fontsize=7, color="grey")
                continue
            low = r.estimate if pd.isna(r.ci_low) else r.ci_low
            high = r.estimate if pd.isna(r.ci_high) else r.ci_high
            ax.errorbar([r.estimate], [y], xerr=[[r.estimate - low], [high - r.estimate]], fmt="o", color="C0",
                        capsize=3, markersize=4)  # fmt: skip
            ax.annotate(f"p_Holm {pvalue(r.p_holm)}", xy=(1.01, y), xycoords=("axes fraction", "data"),
                        va="center", fontsize=7)  # fmt: skip
        ax.axvline(0, color="black", linewidth=0.8)
        metric_names = sorted(set(g["metric_name"]))
        title = "PDR" if quantity == "pdr" else " / ".join(quantity_label(quantity, m) for m in metric_names)
        ax.set_title(f"M3 − plain: {title}")
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels(list(reversed(labels)))
        ax.set_ylim(-0.7, len(labels) - 0.3)
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def _forest_label(pair: str, variant: str, dataset: str, attack: str) -> str:
    return f"{pair} {variant}, {DATASET_LABEL.get(dataset, dataset)} {ATTACK_LABEL.get(attack, attack)}"


def attack_curve(points: pd.DataFrame, title: str) -> bytes:
    """One curve's figure (one pair and method): a row per (dataset, attack) cell; left the clean and attacked
    metric against lambda, right the PDR, each point with its 95% interval; the plain merge as horizontal lines
    with its interval as a band; the star marks the candidate selection carried forward. In the metric panel the
    clean and attacked series sit `DODGE` apart in lambda, so their bars can be told apart."""
    cells = list(dict.fromkeys(zip(points["dataset"], points["attack"], points["search"], strict=True)))
    fig, axes = plt.subplots(len(cells), 2, figsize=(10.0, 0.5 + 2.9 * len(cells)), squeeze=False)
    for i, (dataset, attack, search) in enumerate(cells):
        g = points[(points.dataset == dataset) & (points.attack == attack) & (points.search == search)]
        m3 = g[g["m3"].astype(bool) & g["lambda"].notna()].sort_values("lambda")
        plain = g[~g["m3"].astype(bool)]
        metric = "Acc" if g["metric_name"].iloc[0] == "accuracy" else "MCC"
        cell = f"{DATASET_LABEL.get(dataset, dataset)} {ATTACK_LABEL.get(attack, attack)}"
        left, right = axes[i]
        _curve_panel(left, m3, plain, [("clean", "C0", "s--", "clean"), ("attacked", "C3", "o-", "attacked")])
        left.set_title(f"{cell}: {metric} (curve rows)")
        left.set_ylabel(metric)
        _curve_panel(right, m3, plain, [("pdr", "C2", "o-", "PDR")])
        right.set_title(f"{cell}: PDR (↓ more robust)")
        right.set_ylabel("PDR")
        if m3["pdr"].isna().all():
            right.text(0.5, 0.5, "PDR undefined (clean metric <= 0)", transform=right.transAxes, ha="center",
                       color="grey")  # fmt: skip
        for ax in (left, right):
            _lambda_axis(ax, legend=i == 0)
    fig.suptitle(title)
    fig.tight_layout(rect=(0.0, 0.0, 1.0, 1.0 - 0.4 / fig.get_figheight()))  # room for the title
    return _png(fig)


def magnitude(axis: pd.DataFrame, title: str) -> bytes:
    """One method's magnitude grid (`reports.magnitude.axis_points` of one pair and configured method): a row per
    (dataset, attack) cell; left the clean, right the attacked metric against lambda, one coloured line per scale
    with each point's 95% interval (the scales sit `DODGE` apart in lambda so their bars can be told apart), and
    each scale's plain merge as a dotted line in its colour."""
    cells = list(dict.fromkeys(zip(axis["dataset"], axis["attack"], axis["search"], strict=True)))
    scales = sorted(set(axis["scale"].astype(float)))
    fig, axes = plt.subplots(len(cells), 2, figsize=(10.0, 0.5 + 2.9 * len(cells)), squeeze=False)
    for i, (dataset, attack, search) in enumerate(cells):
        g = axis[(axis.dataset == dataset) & (axis.attack == attack) & (axis.search == search)]
        metric = "Acc" if g["metric_name"].iloc[0] == "accuracy" else "MCC"
        cell = f"{DATASET_LABEL.get(dataset, dataset)} {ATTACK_LABEL.get(attack, attack)}"
        for ax, quantity, name in ((axes[i][0], "clean", "clean"), (axes[i][1], "attacked", "attacked")):
            for k, scale in enumerate(scales):
                color = f"C{k % 10}"
                mine = g[g["scale"].astype(float) == scale]
                m3 = mine[mine["m3"].astype(bool) & mine["lambda"].notna() & mine[quantity].notna()]
                m3 = m3.sort_values("lambda")
                x = m3["lambda"].astype(float) + DODGE * (k - (len(scales) - 1) / 2)
                ax.plot(x, m3[quantity], "o-", color=color, markersize=4, linewidth=1, label=f"M3, scale {scale:g}",
                        gid=f"{quantity}-scale-{scale:g}")  # fmt: skip
                bars = m3[f"{quantity}_low"].notna() & m3[f"{quantity}_high"].notna()
                ax.vlines(x[bars], m3[f"{quantity}_low"][bars], m3[f"{quantity}_high"][bars], color=color,
                          linewidth=1, alpha=0.6)  # fmt: skip
                plain = mine[~mine["m3"].astype(bool) & mine[quantity].notna()]
                if len(plain):
                    ax.axhline(float(plain[quantity].iloc[0]), color=color, linestyle=":", linewidth=1.2,
                               label=f"plain, scale {scale:g}", gid=f"plain-{quantity}-scale-{scale:g}")  # fmt: skip
            ax.set_title(f"{cell}: {name} {metric} (curve rows)")
            ax.set_ylabel(metric)
            _lambda_axis(ax, legend=i == 0)
    fig.suptitle(title)
    fig.tight_layout(rect=(0.0, 0.0, 1.0, 1.0 - 0.4 / fig.get_figheight()))
    return _png(fig)


def _lambda_axis(ax: plt.Axes, legend: bool) -> None:
    """A curve panel's lambda axis, grid and readable y range; the legend where asked and there is something in it."""
    ax.set_xlabel("λ (weight of the first model)")
    ax.set_xlim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    _open_flat_axis(ax)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="best")


def _open_flat_axis(ax: plt.Axes) -> None:
    """A panel whose values are all (nearly) equal gets a readable range around them, not one of 1e-17."""
    low, high = ax.get_ylim()
    if high - low < 0.02:
        middle = (low + high) / 2
        ax.set_ylim(middle - 0.05, middle + 0.05)


def _curve_panel(ax: plt.Axes, m3: pd.DataFrame, plain: pd.DataFrame, series: list[tuple[str, str, str, str]]) -> None:
    """Each quantity's points against lambda with interval bars, the plain merge's value as a dotted line with its
    interval as a band, and the chosen candidate starred."""
    for k, (quantity, color, style, label) in enumerate(series):
        h = m3[m3[quantity].notna()]
        if len(h):
            x = h["lambda"].astype(float) + DODGE * (k - (len(series) - 1) / 2)  # side by side, bars apart
            ax.plot(x, h[quantity], style, color=color, markersize=4, linewidth=1, label=f"M3 {label}")
            bars = h[f"{quantity}_low"].notna() & h[f"{quantity}_high"].notna()
            # A percentile interval need not hold its estimate (a skewed PDR), so bars are drawn from low to high.
            ax.vlines(x[bars], h[f"{quantity}_low"][bars], h[f"{quantity}_high"][bars], color=color, linewidth=1,
                      alpha=0.7, gid=f"{quantity}-interval")  # fmt: skip
            chosen = h["chosen"].astype(bool)
            if chosen.any():
                ax.plot(x[chosen], h[quantity][chosen], "*", color="black", markersize=11, zorder=5,
                        label="chosen" if quantity == series[-1][0] else None)  # fmt: skip
        ref = plain[plain[quantity].notna()]
        if len(ref):
            r = ref.iloc[0]
            ax.axhline(float(r[quantity]), color=color, linestyle=":", linewidth=1.2, label=f"plain {label}")
            if not (pd.isna(r[f"{quantity}_low"]) or pd.isna(r[f"{quantity}_high"])):
                ax.axhspan(float(r[f"{quantity}_low"]), float(r[f"{quantity}_high"]), color=color, alpha=0.1)
