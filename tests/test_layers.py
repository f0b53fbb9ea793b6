"""The layer map of CONTRIBUTING.md, checked against the real imports of every module (top-level
and inside functions): a module imports only from its own layer and the layers below."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# module prefix -> layer (the longest matching prefix wins); see CONTRIBUTING.md
LAYERS = {
    "img2img_runtime": 0,
    "img2img.color": 1,
    "img2img.metrics": 1,
    "img2img.devices": 1,
    "img2img.divergence": 1,
    "img2img.optimization": 1,
    "img2img.averaging": 1,
    "img2img.hints": 1,
    "img2img.data": 2,
    "img2img.nets": 2,
    "img2img.losses": 2,
    "img2img.tasks": 3,
    "img2img.classifier": 3,
    "img2img.config": 4,
    "img2img.presets": 4,
    "img2img.options": 4,
    "img2img.checkpoint": 4,
    "img2img.monitor": 4,
    "img2img.training": 4,
    "img2img.infer": 4,
    "img2img.report": 4,
    "img2img.evaluate": 5,
    "img2img.export": 5,
    "img2img.quantize": 5,
    "img2img.prepare": 5,
    "img2img.demo": 5,
    "img2img.sampling": 5,
    "img2img.cli": 6,
    "img2img.options_table": 6,
    "img2img.__main__": 6,
    "img2img": 6,
}
# building blocks of one layer that must not import each other
SIBLINGS_APART = ("img2img.data", "img2img.nets", "img2img.losses")


def layer_of(module: str) -> tuple[str, int] | None:
    matches = [p for p in LAYERS if module == p or module.startswith(p + ".")]
    if not matches:
        return None
    prefix = max(matches, key=len)
    return prefix, LAYERS[prefix]


def modules() -> dict[str, Path]:
    found = {}
    for base, package in ((ROOT, "img2img"), (ROOT / "export", "img2img_runtime")):
        for path in sorted((base / package).rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = set(modules())


def imports(name: str, path: Path) -> set[str]:
    """Absolute names of everything ``name`` imports (relative imports resolved)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:  # `from . import x` imports module x; `from m import f` imports m
                out.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in MODULES else target)
                if alias.name == "__version__":
                    out.discard(target)  # the version string from the package root is allowed everywhere
    return out


def test_every_module_has_a_layer():
    assert all(layer_of(name) is not None for name in modules()), [n for n in modules() if layer_of(n) is None]


def test_imports_follow_the_layer_map():
    everything = modules()
    violations = []
    for name, path in everything.items():
        own_prefix, own = layer_of(name)
        for target in imports(name, path):
            if target not in everything and target.rpartition(".")[0] not in everything:
                continue  # third-party, or a name imported from a module (checked through the module)
            if target not in everything:
                target = target.rpartition(".")[0]
            if target == name:
                continue
            prefix, layer = layer_of(target)
            if layer > own:
                violations.append(f"{name} (layer {own}) imports {target} (layer {layer})")
            elif own_prefix in SIBLINGS_APART and prefix in SIBLINGS_APART and prefix != own_prefix:
                violations.append(f"{name} imports {target}: {own_prefix} and {prefix} stay apart")
    assert not violations, "\n".join(violations)


def test_the_runtime_imports_no_torch_onnx_or_img2img():
    for name, path in modules().items():
        if name.startswith("img2img_runtime"):
            bad = {t for t in imports(name, path) if t.split(".")[0] in ("torch", "onnx", "img2img", "kornia")}
            assert not bad, f"{name} imports {bad}"
