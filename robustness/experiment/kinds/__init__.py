"""The kinds of unit a study is made of, one module each, registered in `registry` here, in the order the
store and the report list them (docs/architecture.md, "Adding a unit kind")."""

from robustness.experiment.kinds import attack, base, clean, livebench, measure, merge, registry, replay, selection

for _kind in (merge.KIND, clean.KIND, attack.KIND, replay.KIND, livebench.KIND, selection.KIND, measure.KIND):
    registry.register(_kind)

__all__ = ["attack", "base", "clean", "livebench", "measure", "merge", "registry", "replay", "selection"]
