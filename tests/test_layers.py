"""The packages depend one way: merges <- robustness core <- reports <- CLI shell (README, "Code layout").

The CLI shell is `robustness/cli.py` and `robustness/commands/`; the rest of `robustness/` is the core. Every
module is parsed, not imported, and every import in it counts, at any depth (inside functions, under
`TYPE_CHECKING`), as do `importlib.import_module` and `__import__` calls with a literal name.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHELL = ("robustness.cli", "robustness.commands")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) for every module `path` imports; `from a import b` gives both `a` and `a.b`."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                yield node.lineno, node.args[0].value


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in paths
        for line, name in imports(path)
        if within(name, forbidden)
    ]


def core_modules() -> list[Path]:
    return [p for p in modules("robustness") if not within(module_name(p), SHELL)]


@pytest.mark.parametrize(
    ("layer", "paths", "forbidden"),
    [
        ("merges", modules("merges"), ("robustness", "reports")),
        ("robustness core", core_modules(), ("reports", *SHELL)),
        ("reports", modules("reports"), SHELL),
    ],
    ids=["merges", "robustness-core", "reports"],
)
def test_a_layer_imports_only_the_layers_below_it(layer: str, paths: list[Path], forbidden: tuple[str, ...]) -> None:
    assert paths, f"no modules found for {layer}"
    assert violations(paths, forbidden) == []


def test_the_checker_sees_imports_inside_functions_and_the_shell_split() -> None:
    """The shell imports reports inside its handlers; the checker must see that, and must count the shell out of
    the core."""
    report_command = ROOT / "robustness" / "commands" / "report.py"
    assert "reports.write" in {name for _, name in imports(report_command)}
    assert report_command not in core_modules()
    assert ROOT / "robustness" / "cli.py" not in core_modules()
    assert ROOT / "robustness" / "store" / "__init__.py" in core_modules()
    assert violations([report_command], ("reports",))
