"""Extensions: modules outside the suite that register a unit kind, a merge method or an attack when imported.

Registration happens in the process that imports such a module. A study run on Ray sends work to other processes,
so each Ray actor imports the driver's extension modules before its first unit (docs/architecture.md).
"""

from __future__ import annotations

SUITE = ("robustness", "merges", "reports")


def extension_modules() -> list[str]:
    """The modules outside the suite that defined a registered unit kind, merge method or attack, in this process."""
    from merges.registry import methods
    from robustness.attacks.registry import ATTACKS
    from robustness.experiment.kinds.registry import kinds

    found = [type(kind).__module__ for kind in kinds()]
    found += [type(recipe).__module__ for recipe in ATTACKS.values()]
    for method in methods():
        defined = getattr(method, "combine", None) or getattr(method, "apply", None)
        found.append(getattr(defined, "__module__", None) or type(method).__module__)
    return sorted({m for m in found if m.split(".")[0] not in SUITE and m != "__main__"})


def import_extensions(modules: list[str]) -> None:
    """Import each module (registering what it defines); a module that cannot be imported is an error."""
    import importlib

    from robustness.errors import UserError

    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise UserError(f"extension module {name!r} (registered on the driver) cannot be imported here: {exc}; "
                            "install it on every machine that runs units") from None  # fmt: skip
