"""The layers of src/tts_core (documented in its __init__) import one way: down. Lazy imports inside
functions count too, and no production module imports the local emulator (tts_local)."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

from tts_local.template import ROOT

PACKAGE = ROOT / "src" / "tts_core"
CONTRACT = frozenset({"errors", "audio", "deadline", "catalogue", "segmentation", "models"})
# Bottom to top. A group may import its own modules and any group of a lower layer, never a sibling.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"contract"}),
    frozenset({"text", "delivery"}),
    frozenset({"platform"}),
    frozenset({"engines", "voices", "tenancy"}),
    frozenset({"routing"}),
    frozenset({"pipeline"}),
    frozenset({"books"}),
    frozenset({"api"}),
)
EMULATOR = ("tts_local", "infra")


def group_of(module: str) -> str | None:
    """tts_core.<x>[.…] -> its group: 'contract' for the top-level modules, else the subpackage."""
    parts = module.split(".")
    if parts[0] != "tts_core" or len(parts) < 2:
        return None
    return "contract" if parts[1] in CONTRACT else parts[1]


def layer_of(group: str) -> int:
    for level, groups in enumerate(LAYERS):
        if group in groups:
            return level
    raise AssertionError(f"tts_core.{group} has no layer: give it one in tests/static/test_layers.py and in "
                         "src/tts_core/__init__.py")


def imports_of(source: str, module: str) -> Iterator[str]:
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing module's package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def violations(sources: Mapping[str, str]) -> list[str]:
    """Every import in `sources` (module name -> its code) that goes up or sideways, or into the emulator."""
    found = []
    for module, source in sorted(sources.items()):
        own = group_of(module) or "contract"  # the package's own __init__: its docstring
        for target in imports_of(source, module):
            if target.split(".")[0] in EMULATOR:
                found.append(f"{module} imports the local emulator ({target.split('.')[0]})")
                continue
            other = group_of(target)
            if other is None or other == own or (other == "contract" and target.count(".") > 1):
                continue  # not ours, our own group, or a name imported from a contract module
            if layer_of(other) >= layer_of(own):
                found.append(f"{module} ({own}) imports {target} ({other}): not a lower layer")
    return sorted(set(found))


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_sources() -> dict[str, str]:
    return {_module_name(p): p.read_text(encoding="utf-8") for p in PACKAGE.rglob("*.py")}


def test_every_import_in_tts_core_goes_down_a_layer() -> None:
    assert violations(package_sources()) == []


def test_an_upward_or_sideways_import_is_caught() -> None:
    sources = package_sources()
    sources["tts_core.engines.espeak"] += "\n\ndef _late():\n    from tts_core.pipeline import jobs  # noqa\n"
    sources["tts_core.voices.registry"] += "\nfrom tts_core.engines.espeak import EspeakEngine\n"
    sources["tts_core.audio"] += "\nimport tts_core.platform.storage\n"
    sources["tts_core.platform.storage"] += "\nfrom tts_local import faults\n"
    assert sorted(set(violations(sources)) - set(violations(package_sources()))) == [
        "tts_core.audio (contract) imports tts_core.platform.storage (platform): not a lower layer",
        "tts_core.engines.espeak (engines) imports tts_core.pipeline (pipeline): not a lower layer",
        "tts_core.engines.espeak (engines) imports tts_core.pipeline.jobs (pipeline): not a lower layer",
        "tts_core.platform.storage imports the local emulator (tts_local)",
        "tts_core.voices.registry (voices) imports tts_core.engines.espeak (engines): not a lower layer",
        "tts_core.voices.registry (voices) imports tts_core.engines.espeak.EspeakEngine (engines): "
        "not a lower layer",
    ]


def test_a_new_package_must_be_given_a_layer() -> None:
    sources = {"tts_core.api.app": "from tts_core.newthing import x\n"}
    try:
        violations(sources)
    except AssertionError as exc:
        assert "tts_core.newthing has no layer" in str(exc)
    else:
        raise AssertionError("an import of a package with no layer passed")


def test_the_lambda_functions_never_import_the_emulator() -> None:
    for app in (ROOT / "functions").glob("*/app.py"):
        targets = set(imports_of(app.read_text(encoding="utf-8"), f"functions.{app.parent.name}.app"))
        assert not {t for t in targets if t.split(".")[0] in EMULATOR}, app
