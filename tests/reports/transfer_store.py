"""A hand-made store with transfer attacks on, for the transfer table's report test.

One pair, Task Arithmetic: the plain merge, the chosen M3 candidate and the SST-2 expert, each attacked with SST-2
StressTest on two seeds (seed 0: rows 100-109, seed 1: rows 105-114, 5 shared). Sources: the expert and the plain
merge. The expert's prompts are replayed on the plain and the chosen merge; the plain merge's on the chosen merge
and the expert. A curve unit of the plain merge on the same cell must not count as its own attack. Numbers are
counts of right answers out of 10 rows, so every value is known.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robustness.store import Store, unit_key
from tests.reports.curve_store import attack, sst2_labels
from tests.reports.synthetic import right_on

PAIR = "sst2+cola"
PLAIN = f"{PAIR}/task_arithmetic"
CHOSEN = f"{PLAIN}+m3/a1-d0"
EXPERT = "expert/sst2"
ROWS = {0: list(range(100, 110)), 1: list(range(105, 115))}
CLEAN = {PLAIN: 8, CHOSEN: 9, EXPERT: 10}  # right answers with the clean prompt (the same rows in both seeds)
OWN = {PLAIN: (5, 4), CHOSEN: (7, 6), EXPERT: (2, 3)}  # each model's own attack, seeds 0 and 1
# (source, target) -> right answers under the source's prompts, seeds 0 and 1
REPLAYED = {
    (EXPERT, PLAIN): (6, 7),
    (EXPERT, CHOSEN): (8, 9),
    (PLAIN, CHOSEN): (7, 7),
    (PLAIN, EXPERT): (9, 10),
}


def identity(model_id: str) -> dict[str, Any]:
    if model_id == EXPERT:
        return {"model_id": EXPERT, "method": "expert", "m3": False, "pair": "reference"}
    if model_id == PLAIN:
        return {"model_id": PLAIN, "method": "task_arithmetic", "m3": False, "pair": PAIR}
    return {"model_id": CHOSEN, "method": "task_arithmetic", "m3": True, "alpha": 1.0, "draw": 0,
            "lambdas": [0.4, 0.6], "m3_convention": "official", "pair": PAIR}  # fmt: skip


def record(model_id: str, seed: int, attacked_k: int, prompt: str) -> dict[str, Any]:
    rows = ROWS[seed]
    labels = sst2_labels(rows)
    out = attack(CHOSEN, "sst2", "stresstest", seed, rows, right_on(labels, CLEAN[model_id]),
                 right_on(labels, attacked_k), labels)  # fmt: skip
    return (
        out
        | {k: None for k in ("alpha", "draw", "lambdas", "m3_convention")}
        | identity(model_id)
        | {"attacked_prompt": prompt}
    )


def build(run_dir: Path) -> dict[str, str]:
    """Write the store; returns the keys by 'own/<model>/<seed>' and 'replay/<source>/<target>/<seed>'."""
    keys: dict[str, str] = {}
    with Store.create_or_resume(run_dir, {"name": "transfer"}) as store:
        for model_id, counts in OWN.items():
            for seed, k in enumerate(counts):
                inputs = {"model_id": model_id, "dataset": "sst2", "attack": "stresstest", "seed": seed}
                key = unit_key("attack", inputs, f"{model_id}/sst2/stresstest/{seed}")
                store.put(key, "attack", inputs, record(model_id, seed, k, f"prompt of {model_id} seed {seed}"))
                keys[f"own/{model_id}/{seed}"] = key
        # The plain merge's attacked lambda curve on the same cell (other numbers): not its own attack.
        inputs = {"model_id": PLAIN, "dataset": "sst2", "attack": "stresstest", "seed": 0, "purpose": "curve"}
        key = unit_key("attack", inputs, f"{PLAIN}/sst2/stresstest/0/curve")
        store.put(key, "attack", inputs, record(PLAIN, 0, 1, "curve prompt"))
        for (source, target), counts in REPLAYED.items():
            for seed, k in enumerate(counts):
                src = keys[f"own/{source}/{seed}"]
                inputs = {"model_id": target, "dataset": "sst2", "seed": seed, "purpose": "transfer", "source": src}
                key = unit_key("attack", inputs, f"{target}/sst2/stresstest/{seed}/transfer/{source}")
                replay = record(target, seed, k, f"prompt of {source} seed {seed}")
                store.put(key, "attack", inputs, replay | {"source_key": src, "source_model_id": source})
                keys[f"replay/{source}/{target}/{seed}"] = key
        cand = {"model_id": CHOSEN, "alpha": 1.0, "lambdas": [0.4, 0.6], "draw": 0,
                "metrics": {"sst2": 0.9, "cola": 0.3}, "score": 0.6}  # fmt: skip
        inputs = {"pair": PAIR, "method": "task_arithmetic", "candidates": [CHOSEN]}
        sel = {"pair": PAIR, "method": "task_arithmetic", "m3_convention": "official", "criterion": "mean",
               "criterion_name": "mean_metric", "chosen_model_id": CHOSEN, "candidates": [cand]}  # fmt: skip
        store.put(unit_key("selection", inputs, PLAIN), "selection", inputs, sel)
    return keys
