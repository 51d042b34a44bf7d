"""The merge config: a YAML file in mergekit's shape, validated once into frozen typed objects.

Everything a merge needs is checked here, before any checkpoint is opened: unknown keys, values out of
range, parameters that the chosen method does not use, and an M3 block that does not fit the number of
models. Each problem is reported as a `MergeError` that names the key (`parameters.keep`, `m3.lambda`), so a
typo costs milliseconds instead of a model load. Which methods exist, which `parameters` keys each reads or needs,
and their types and ranges come from the method registry (`merges.registry`), looked up when a config is checked.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from merges import builtin, registry
from merges.errors import MergeError
from merges.registry import CombiningMethod, CombiningMethodName, MergeMethod, Param, SparsifyingStep, known_method

MethodName = Annotated[str, AfterValidator(known_method)]  # a registered method (merges.registry)
BaseMethodName = CombiningMethodName  # what DARE's sparsified deltas are merged with
TrimScope = builtin.TrimScope
DtypeName = Literal["auto", "float32", "bfloat16", "float16"]
DeviceName = Literal["auto", "cpu", "cuda"]

# The built-in methods' defaults (merges.builtin), under the names other packages import.
DEFAULT_SCALING: float = builtin.SCALING.default
DEFAULT_TRIM_SCOPE: TrimScope = builtin.TRIM_SCOPE.default
DEFAULT_DARE_METHOD: str = builtin.DARE_METHOD.default
DEFAULT_MAX_SHARD_SIZE = 5 * 1000**3
# Weights given as a list must sum to 1 within this tolerance (YAML decimals such as 0.33 would not).
LAMBDA_SUM_TOLERANCE = 1e-6
MAX_SEED = 2**63 - 1

_UNION_BRANCH = re.compile(r"^(float|int|str|bool|list\[.*\]|function-.*|union\[.*\])$")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4}
_UNITS.update({"KIB": 1024, "MIB": 1024**2, "GIB": 1024**3, "TIB": 1024**4})


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Parameters(_Frozen):
    """Method hyperparameters: one optional field per parameter of every registered method (merges.registry), in
    order of first declaration. `None` means "not given": defaults are applied by `MergeConfig.value`.

    This class has no fields itself: `parameters_model()` builds the model for the methods registered now, so a
    registered method's parameters are validated (type, range) like the built-in ones, and a key no method reads
    is refused.
    """

    def get(self, name: str) -> Any:
        """The value given for `name`, or None."""
        return getattr(self, name, None)

    def given(self) -> dict[str, Any]:
        """The keys that were given, with their values."""
        return {name: value for name, value in self.model_dump().items() if value is not None}

    def __reduce__(self) -> tuple[Any, ...]:
        # The model class is built at run time (parameters_model); pickle rebuilds the values with the current one.
        return (_parameters_from, (self.given(),))


def parameters_model() -> type[Parameters]:
    """The `Parameters` model of the methods registered now (one class per set of parameters, built once)."""
    return _model_for(registry.parameters())


@cache
def _model_for(params: tuple[Param, ...]) -> type[Parameters]:
    fields: dict[str, Any] = {
        p.name: (p.type | None, Field(default=None, description=p.description, **p.bounds())) for p in params
    }
    return create_model("Parameters", __base__=Parameters, __module__=__name__, **fields)


def _parameters_from(data: Any) -> Parameters:
    """Validate `parameters` with the current model (an instance made under other registrations is re-read)."""
    model = parameters_model()
    if isinstance(data, model):
        return data
    if isinstance(data, Parameters):
        data = data.given()
    return model.model_validate(data)


class M3Config(_Frozen):
    """Mixup Model Merge: random contribution ratios lambda ~ Beta(alpha, alpha) (K=2) or Dirichlet (K>2)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, populate_by_name=False)

    enabled: bool = False
    alpha: float | None = Field(default=None, gt=0)
    lambda_: float | list[float] | None = Field(default=None, alias="lambda")
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    preserve_scale: bool = False
    per_block: bool = False

    @field_validator("lambda_")
    @classmethod
    def _lambda_range(cls, value: float | list[float] | None) -> float | list[float] | None:
        values = value if isinstance(value, list) else [] if value is None else [value]
        for v in values:
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"each lambda must lie in [0, 1], got {v}")
        if isinstance(value, list) and abs(sum(value) - 1.0) > LAMBDA_SUM_TOLERANCE:
            raise ValueError(f"a list of lambdas must sum to 1, got {sum(value):.6g}")
        return value


class MergeConfig(_Frozen):
    """A validated merge: what to merge, how, and with which seeds. Immutable; code inside trusts it."""

    base_model: str = Field(min_length=1)
    models: list[str] = Field(min_length=2)
    method: MethodName
    parameters: Annotated[SerializeAsAny[Parameters], BeforeValidator(_parameters_from)] = Field(
        default_factory=lambda: parameters_model()()
    )
    m3: M3Config = Field(default_factory=M3Config)
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    dtype: DtypeName = "auto"
    device: DeviceName = "auto"
    max_shard_size: int = Field(default=DEFAULT_MAX_SHARD_SIZE, gt=0)
    output: str | None = Field(default=None, min_length=1, description="output folder, unless given to merge()")

    @field_validator("models", mode="before")
    @classmethod
    def _model_entries(cls, value: Any) -> Any:
        # mergekit writes `models: [{model: path}, ...]`; accept that shape as well as plain strings.
        if not isinstance(value, list):
            return value
        out = []
        for i, item in enumerate(value):
            if isinstance(item, dict):
                if set(item) != {"model"}:
                    extra = sorted(set(item) - {"model"})
                    raise _field_error(
                        f"models[{i}]",
                        "a model entry takes only the key 'model' (per-model weights come from m3.lambda), "
                        f"got {', '.join(extra) or 'no model key'}",
                    )
                item = item["model"]
            out.append(item)
        return out

    @field_validator("max_shard_size", mode="before")
    @classmethod
    def _shard_size(cls, value: Any) -> Any:
        if isinstance(value, str):
            match = _SIZE.match(value)
            if not match:
                raise ValueError(f"expected a size such as 2GB, 500MB or a number of bytes, got {value!r}")
            return int(float(match.group(1)) * _UNITS[(match.group(2) or "").upper()])
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MergeConfig:
        _check_inputs(self)
        _check_parameters(self)
        _check_m3(self)
        return self

    # Resolved views: the defaults live here, once, so that merge.json records what was actually used.
    @property
    def k(self) -> int:
        return len(self.models)

    @property
    def sparsifier(self) -> SparsifyingStep | None:
        """The sparsification step applied to the task vectors first (DARE), when the method is one."""
        method = registry.get_method(self.method)
        return method if isinstance(method, SparsifyingStep) else None

    @property
    def base_method(self) -> str:
        """The method that combines the task vectors (after a sparsification step such as DARE, when there is one)."""
        step = self.sparsifier
        return self.method if step is None else str(self.value(step.combiner_param))

    @property
    def combiner(self) -> CombiningMethod:
        """The registered method named by `base_method`."""
        return registry.combiner(self.base_method)

    @property
    def steps(self) -> tuple[MergeMethod, ...]:
        """The methods the merge runs, in order: the sparsification step when there is one, then the combiner."""
        step = self.sparsifier
        return (self.combiner,) if step is None else (step, self.combiner)

    def value(self, name: str) -> Any:
        """The parameter `name` as the merge uses it: as given, else its default (None for a required one)."""
        given = self.parameters.get(name)
        return given if given is not None else registry.parameter(name).default

    @property
    def drop_rate(self) -> float:
        """DARE's drop probability; 0 (no sparsification) for a combining method."""
        step = self.sparsifier
        return self.value("drop_rate") if step is not None and "drop_rate" in step.reads else 0.0

    @property
    def scaling(self) -> float:
        return float(self.value("scaling"))

    @property
    def keep(self) -> float:
        keep = self.value("keep")
        assert keep is not None, "validated: a method that trims always has keep"
        return float(keep)

    @property
    def trim_scope(self) -> TrimScope:
        scope: TrimScope = self.value("trim_scope")
        return scope

    def resolved_parameters(self) -> dict[str, Any]:
        """The parameters the merge uses, defaults filled in, for merge.json: each step's, in declaration order."""
        return {p.name: self.value(p.name) for step in self.steps for p in step.params}

    def fixed_lambdas(self) -> tuple[float, ...] | None:
        """The contribution ratios given in the config, one per model, or None when they are to be sampled."""
        value = self.m3.lambda_
        if value is None:
            return None
        if isinstance(value, list):
            return tuple(float(v) for v in value)
        return (float(value), 1.0 - float(value))

    def to_record(self) -> dict[str, Any]:
        """The config as plain data with the YAML key names (`lambda`, not `lambda_`)."""
        return self.model_dump(mode="json", by_alias=True)


def _check_inputs(cfg: MergeConfig) -> None:
    """Each model is listed once and is not the base: a repeat would weigh one fine-tune twice (and its task vector
    against itself), and the base as a "fine-tune" adds a zero task vector that dilutes the others. Paths are compared
    resolved, so `a`, `./a` and `/abs/a` are the same model; nothing is read."""
    seen = {_place(cfg.base_model): "base_model"}
    for i, model in enumerate(cfg.models):
        first = seen.setdefault(_place(model), f"models[{i}]")
        if first != f"models[{i}]":
            fix = "list only the fine-tunes of base_model" if first == "base_model" else "list each model once"
            raise _field_error(f"models[{i}]", f"{model!r} is the same model as {first}; {fix}")


def _place(reference: str) -> str:
    """One spelling of a model folder or Hub id: the absolute path with `..`, `~` and symbolic links resolved (a Hub
    id becomes a path below the working folder, which only the same id reaches)."""
    try:
        return os.path.realpath(os.path.expanduser(reference))
    except (OSError, ValueError):  # a NUL in the text: compared as written
        return reference


def _check_parameters(cfg: MergeConfig) -> None:
    """Every given parameter is read by the method (or, for a sparsification step, by the method it feeds), and
    every parameter they need is given. A key given for a method that ignores it is an error, because in a search
    grid it almost always means the config says something other than what its author thinks."""
    given = set(cfg.parameters.given())
    steps = cfg.steps
    allowed = set().union(*(entry.reads for entry in steps))
    step = cfg.sparsifier
    for name in sorted(given - allowed):
        uses = [m.name for m in registry.methods() if name in m.reads]
        method = cfg.method if step is None else f"{cfg.method} with {step.combiner_param} {cfg.base_method!r}"
        raise _field_error(
            f"parameters.{name}",
            f"does not apply to method {method!r} (it is used by {' and '.join(uses)}); remove it",
        )
    for entry in steps:
        for name in sorted(entry.needs - given):
            hint = entry.param(name).hint
            raise _field_error(f"parameters.{name}", f"is required for method {entry.name!r} ({hint or 'see README'})")


def _check_m3(cfg: MergeConfig) -> None:
    m3 = cfg.m3
    if not m3.enabled:
        _check_m3_off(m3)
        return
    if m3.lambda_ is None and m3.alpha is None:
        raise _field_error("m3.alpha", "is required when m3.lambda is null (lambda is sampled from alpha)")
    if isinstance(m3.lambda_, list):
        if len(m3.lambda_) != cfg.k:
            raise _field_error("m3.lambda", f"has {len(m3.lambda_)} weights for {cfg.k} models; give one per model")
    elif m3.lambda_ is not None and cfg.k != 2:
        raise _field_error(
            "m3.lambda", f"a single number fits 2 models; with {cfg.k} models give a list of {cfg.k} weights"
        )


def _check_m3_off(m3: M3Config) -> None:
    """M3 settings while M3 is off are an error: the merge would be plain while the config reads as M3."""
    given = [name for name, value in _m3_settings(m3).items() if value]
    if given:
        keys = ", ".join(given)
        raise _field_error(
            f"m3.{given[0]}",
            f"is set but m3.enabled is not true, so the merge would be plain; add 'enabled: true' to the m3 block "
            f"to merge with M3, or remove {keys} for a plain merge",
        )


def _m3_settings(m3: M3Config) -> dict[str, bool]:
    """Which M3 settings differ from "not given" (None or false), by their YAML names."""
    return {
        "alpha": m3.alpha is not None,
        "lambda": m3.lambda_ is not None,
        "seed": m3.seed is not None,
        "preserve_scale": m3.preserve_scale,
        "per_block": m3.per_block,
    }


def _field_error(key: str, message: str) -> ValueError:
    # Raised inside a validator, pydantic wraps it; `validate_config` unwraps it into "key: message".
    return ValueError(f"@{key}: {message}")


def validate_config(data: Any, source: str = "merge config") -> MergeConfig:
    """Validate plain data (as read from YAML) into a `MergeConfig`, or raise `MergeError` naming the key."""
    if not isinstance(data, dict):
        raise MergeError(f"{source}: expected a mapping of keys (base_model, models, method, ...), got {_kind(data)}")
    try:
        return MergeConfig.model_validate(data)
    except ValidationError as exc:
        key, problem = _describe(exc)
        raise MergeError(f"{source}: {key}: {problem}", key=key, problem=problem) from None


def load_merge_config(path: str | Path) -> MergeConfig:
    """Read and validate a merge config YAML file."""
    import yaml

    from merges.yamlfile import DuplicateKeyError, load_yaml

    file = Path(path).expanduser()
    if not file.is_file():
        state = "is a folder, expected a file" if file.is_dir() else "does not exist"
        raise MergeError(f"merge config {str(file)!r} {state}")
    try:
        data = load_yaml(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise MergeError(f"merge config {str(file)!r} is not UTF-8 text; give the YAML file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = " ".join(str(getattr(exc, "problem", None) or type(exc).__name__).split())
        if isinstance(exc, DuplicateKeyError):
            raise MergeError(f"merge config {str(file)!r}{where}: {problem}; keep one of them") from None
        raise MergeError(f"merge config {str(file)!r} is not valid YAML{where}: {problem}") from None
    return validate_config(data, source=str(file))


def _describe(exc: ValidationError) -> tuple[str, str]:
    """The first problem as (key, message), with the key in the YAML's own spelling."""
    err = exc.errors()[0]
    message = str(err.get("msg", ""))
    key = _key(err.get("loc", ()))
    if message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    if message.startswith("@"):  # our cross-field checks carry their own key
        key, _, message = message[1:].partition(": ")
    if err.get("type") == "extra_forbidden":
        message = f"unknown key (allowed: {', '.join(_allowed_keys(err.get('loc', ())))})"
    elif err.get("type") == "missing":
        message = "is required"
    elif err.get("type") == "literal_error":
        message = f"{message}, got {err.get('input')!r}"
    extra = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
    return key or "(top level)", f"{message}{extra}"


def _key(loc: tuple[Any, ...] | list[Any]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1] if parts else ''}[{item}]"]
        elif _UNION_BRANCH.match(str(item)):
            continue  # pydantic names union branches in the location; the user never wrote those
        else:
            parts.append("lambda" if item == "lambda_" else str(item))
    return ".".join(parts)


def _allowed_keys(loc: tuple[Any, ...] | list[Any]) -> list[str]:
    section = loc[0] if len(loc) > 1 else None
    sections: dict[str, type[BaseModel]] = {"parameters": parameters_model(), "m3": M3Config}
    model = sections.get(str(section), MergeConfig)
    return [field.alias or name for name, field in model.model_fields.items()]


def _kind(data: Any) -> str:
    return "nothing (empty file)" if data is None else type(data).__name__
