"""The attack kind: one attack seed on one model, one dataset: the search for the prompt that hurts the model most
on the seed's rows (PromptBench's recipes, robustness/attacks/), and the clean and attacked scores there.

Units of the attacked lambda curve carry `purpose: curve` (the report keeps them apart from the tables' attacks).
Work: the search's prompt evaluations x one evaluation's tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Literal

from robustness.catalog import AttackName, DatasetName, ReadingName
from robustness.experiment.kinds.base import Context, Inputs, ModelInputs, Unit, UnitKind
from robustness.experiment.kinds.common import reading_input, scoring
from robustness.records import AttackRecord

if TYPE_CHECKING:
    from robustness.experiment.planning.models import ModelSpec
    from robustness.experiment.sizing.work import Work
    from robustness.experiment.spec.config import AttackConfig, ExperimentConfig

CURVE: Final = "curve"  # the purpose of the attacked lambda curve's attack units
TRANSFER: Final = "transfer"  # the purpose of a transfer attack's replay units (experiment/kinds/replay.py)


class AttackSettings(Inputs):
    """The attack config's settings that change what one attack run does (not which models, rows or seeds)."""

    attack: AttackName
    search: str
    masked_lm: str
    similarity_encoder: str | None
    levenshtein: int
    candidates: int


class AttackInputs(ModelInputs):
    dataset: DatasetName
    rows: list[int]
    prompt: str
    mode: str
    chat: bool | None
    attack: AttackSettings
    seed: int
    # 'curve': a unit of the attacked lambda curve (every M3 candidate and the plain merge, on `curve_n` rows),
    # which the report keeps apart from the tables' attacks; absent for those, whose keys predate it.
    purpose: Literal["curve", "transfer"] | None = None
    # Generate mode's rule for reading an answer; None: PromptBench's last word (keys from before it existed).
    reading: ReadingName | None = None

    def payload(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        for key in ("purpose", "reading"):
            if data[key] is None:
                del data[key]
        return data


class AttackKind(UnitKind, name="attack", inputs_type=AttackInputs, record_type=AttackRecord, plan_rank=3,
                 builtin_rate=3.047e-11):  # fmt: skip
    def claims(self, inputs: Mapping[str, Any]) -> bool:
        return inputs.get("purpose") != TRANSFER

    def run(self, unit: Unit, ctx: Context) -> AttackRecord:
        from robustness.attacks.recipes import RunSettings, get_attack

        inputs = unit.inputs_as(AttackInputs)
        spec, recipe = inputs.attack, get_attack(inputs.attack.attack)
        s = scoring(unit, ctx, inputs.dataset, inputs.rows, inputs.mode, inputs.prompt, inputs.reading)
        generator, similarity = (None, None)
        if recipe.needs_word_models:
            generator, similarity = _word_models(unit, s.loaded, ctx.worker.cached(spec.attack))
        settings = RunSettings(seed=inputs.seed, search=spec.search, levenshtein=spec.levenshtein,
                               candidates=spec.candidates, generator=generator, similarity=similarity)  # fmt: skip
        result = recipe.run(s.scorer, s.prompt.text, settings)
        fields = dict(**s.fields(unit, ctx), attack=spec.attack, search=result.search, seed=inputs.seed,
                      clean_metric=result.clean.metric, attacked_metric=result.attacked.metric, pdr=result.pdr,
                      attacked_prompt=result.attacked_prompt, queries=result.queries,
                      clean_predictions=list(result.clean.predictions),
                      attacked_predictions=list(result.attacked.predictions), generator=result.generator,
                      similarity_encoder=result.similarity_encoder)  # fmt: skip
        return AttackRecord.model_validate(fields)

    def work(self, inputs: AttackInputs, work: Work) -> float:
        from robustness.experiment.sizing.work import PROMPT_WORDS

        evaluations = attack_evaluations(inputs.attack, work.words.get(inputs.dataset, max(PROMPT_WORDS.values())))
        return work.parameters * evaluations * work.evaluation(inputs.dataset, len(inputs.rows), inputs.mode,
                                                               work.max_new_tokens)  # fmt: skip


def attack_evaluations(settings: AttackSettings, words: int) -> int:
    """Prompt evaluations that reach the model in one attack unit, at most (a filtered or repeated candidate is
    not evaluated), as the attack's recipe counts them (robustness/attacks/recipe.py): the clean prompt, the greedy
    search's importance ranking (one per modifiable word), then each visited position's candidates."""
    from robustness.attacks.recipes import RunSettings, get_attack

    run = RunSettings(search=settings.search, candidates=settings.candidates)
    return get_attack(settings.attack).max_evaluations(words, run)


def _word_models(unit: Unit, loaded: Any, cache: dict[str, Any]) -> tuple[Any, Any]:
    """A word-swapping recipe's word generator and similarity constraint (BERTAttack's; built once per worker and
    model)."""
    from robustness.attacks.generators import bertattack_parts

    spec = unit.inputs_as(AttackInputs).attack
    assert unit.model is not None
    return bertattack_parts(loaded, unit.model.model_id, spec.masked_lm, spec.similarity_encoder, cache)


KIND = AttackKind()


def attack_units(cfg: ExperimentConfig, spec: AttackConfig, model: ModelSpec, dataset: str, report: list[int],
                 identities: dict[str, str], *, curve: bool = False) -> list[Unit]:  # fmt: skip
    """One attack unit per seed. `curve`: the attacked lambda curve's units, on `spec.curve_n` rows per seed
    (drawn as the tables' attacks draw theirs, so the same rows for every model) and keyed apart from them."""
    from robustness.experiment.planning.rows import attack_rows

    settings = AttackSettings(**spec.model_dump(mode="json", exclude={"seeds", "datasets", "methods", "n", "curve_n"}))
    n = spec.curve_n if curve and spec.curve_n is not None else spec.n
    return [
        KIND.unit(
            model,
            AttackInputs(
                model=model.identity,
                checkpoints=identities,
                dataset=dataset,
                rows=attack_rows(report, n, seed),
                prompt=cfg.eval.prompt,
                mode=cfg.eval.mode,
                chat=cfg.eval.chat,
                attack=settings,
                seed=seed,
                purpose=CURVE if curve else None,
                reading=reading_input(cfg, reads_answers=cfg.eval.mode == "generate"),
            ),
            f"{model.model_id}/{dataset}/{spec.attack}/{seed}" + (f"/{CURVE}" if curve else ""),
        )
        for seed in spec.seeds
    ]
