"""The merge kind: one merged model (a plain merge or an M3 candidate) written into the run folder.

Inputs: the model's merge config (model names, not paths) and every checkpoint's identity. It runs on the worker
that will evaluate the model next; its record holds the merge's folder and merge.json. Work: parameters x the
checkpoints read and written (the base, each expert, the merged model).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from robustness.experiment.kinds.base import Context, ModelInputs, Unit, UnitKind
from robustness.experiment.kinds.common import identity_fields
from robustness.records import MergeRecord

if TYPE_CHECKING:
    from robustness.experiment.planning.models import ModelSpec
    from robustness.experiment.sizing.work import Work


class MergeInputs(ModelInputs):
    pass


class MergeKind(UnitKind, name="merge", inputs_type=MergeInputs, record_type=MergeRecord, runs_model=False,
                disk_bound=True, plan_rank=0, builtin_rate=1.092e-08):  # fmt: skip
    """Merging reads and writes every weight: a faster device does not speed it up (`runs_model=False`)."""

    def run(self, unit: Unit, ctx: Context) -> MergeRecord:
        assert unit.model is not None
        worker = ctx.worker
        folder = worker.ensure_model(unit.model)
        merge_json = worker.merge_json(unit.model) or {}
        return MergeRecord(**identity_fields(unit.model, ctx.cfg, merge_json), path=str(folder), merge_json=merge_json)

    def work(self, inputs: MergeInputs, work: Work) -> float:
        merged = len((inputs.model.merge or {}).get("models", ()))
        return work.parameters * (merged + 2)


KIND = MergeKind()


def merge_unit(model: ModelSpec, identities: dict[str, str]) -> Unit:
    return KIND.unit(model, MergeInputs(model=model.identity, checkpoints=identities), model.model_id)


def merge_into(model: ModelSpec, paths: dict[str, Path], out: Path) -> dict[str, Any]:
    """Merge into `out` (atomically, by the merge engine) and return merge.json."""
    from merges import merge

    assert model.merge is not None
    data = dict(model.merge)
    data["base_model"] = str(paths[data["base_model"]])
    data["models"] = [str(paths[name]) for name in data["models"]]
    return dict(merge(data, out, overwrite=True).record)
