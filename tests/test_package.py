"""The package's shape: no import cycle (function-level imports included), layers import only downwards,
and every public function is typed and documented."""

from __future__ import annotations

import ast
import inspect
import pkgutil
from importlib import import_module
from pathlib import Path

import codesign

PACKAGE = Path(codesign.__file__).parent
# Lowest first: a module may import only from its own layer or below (and never in a cycle).
LAYERS = [
    {
        "errors",
        "paths",
        "config",
        "objectives",
        "options",
        "registry",
        "sgd",
        "status",
        "yamlfile",
        "storage",
        "dataflow",
        "search.nsga2",
    },
    {
        "arch",
        "rubric",
        "workload",
        "network",
        "data",
        "pareto",
        "builtin_models",
        "device.settings",
        "device.runtimes",
        "device.timing",
    },
    {
        "hardware",
        "train",
        "profiling",
        "cost",
        "spec_workload",
        "search.surrogate",
        "search.acquisition",
        "search.remote_cost",
        "settings",
        "device",
    },
    {"quantize", "space", "breakdown", "dse"},
    {"search.settings", "search.shared", "search.trial"},
    {"runs"},
    {"designs", "report", "plots"},
    {
        "export",
        "model_source",
        "search.constraints",
        "search.objective",
        "search.sampler",
        "search.prepared",
        "search.seeds",
        "search.candidates",
        "search.prefetch",
        "search.ehvi",
        "search.replay",
        "search.trainable",
        "search.table",
        "search.fidelity",
        "search.samplers",
        "search.remeasure",
    },
    {"search.driver", "search.searcher", "search.results", "search"},
    {"api"},
    {"cli", "__init__"},  # the package's face: codesign/__init__.py re-exports the API
]


def _modules() -> dict[str, Path]:
    found = {"codesign": PACKAGE / "__init__.py"}
    for info in pkgutil.walk_packages([str(PACKAGE)], "codesign."):
        path = PACKAGE.joinpath(*info.name.split(".")[1:])
        if not info.ispkg and not path.with_suffix(".py").is_file():
            continue  # a compiled extension (the analytic engine's core): no Python imports to follow
        found[info.name] = path / "__init__.py" if info.ispkg else path.with_suffix(".py")
    return found


def import_graph() -> dict[str, set[str]]:
    """codesign module -> the codesign modules it imports anywhere in its file."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [
                    f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                    for alias in node.names
                ]
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def _layer(module: str) -> int:
    short = "__init__" if module == "codesign" else module.removeprefix("codesign.")
    for i, layer in enumerate(LAYERS):
        if short in layer or any(short.startswith(f"{m}.") for m in layer):
            return i
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS")


def test_no_import_cycle():
    graph = import_graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path[path.index(nxt) :], node, nxt]))
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_layers_import_only_downwards():
    upward = [f"{a} -> {b}" for a, targets in import_graph().items() for b in targets if _layer(b) > _layer(a)]
    assert not upward, upward


def test_public_functions_are_typed_and_documented():
    missing = []
    for name in _modules():
        module = import_module(name)
        for attr, obj in vars(module).items():
            if attr.startswith("_") or getattr(obj, "__module__", None) != name:
                continue
            functions = [(attr, obj)] if inspect.isfunction(obj) else []
            if inspect.isclass(obj):
                functions = [
                    (f"{attr}.{m}", f) for m, f in vars(obj).items() if inspect.isfunction(f) and not m.startswith("_")
                ]
                if not inspect.getdoc(obj):
                    missing.append(f"{name}.{attr}: no docstring")
            for label, fn in functions:
                sig = inspect.signature(fn)
                if sig.return_annotation is inspect.Signature.empty:
                    missing.append(f"{name}.{label}: no return type")
                if not fn.__doc__:
                    missing.append(f"{name}.{label}: no docstring")
    assert not missing, "\n".join(missing)


def test_import_codesign_is_cheap_and_every_public_name_has_an_owner():
    """`import codesign` (and `codesign --help`) imports none of PyTorch, pandas, Ray or Optuna; each public name is
    imported from its owner when first used, and importing a submodule does not hide an API function."""
    import subprocess
    import sys

    heavy = ("torch", "pandas", "ray", "optuna", "numpy", "sklearn", "scipy")
    script = (
        "import sys, codesign, codesign.cli; parser = codesign.cli.build_parser(); "
        f"print(' '.join(m for m in {heavy!r} if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "", loaded
    assert set(codesign.__all__) == {"__version__", *codesign._OWNERS}
    for name in codesign.__all__:
        obj = getattr(codesign, name)
        assert name == "__version__" or getattr(obj, "__module__", None) == codesign._OWNERS[name], name
    for name in ("codesign.export", "codesign.search.driver", "codesign.train"):
        import_module(name)  # submodules named as API functions: each binds on its package when first imported
    assert callable(codesign.train) and callable(codesign.export) and callable(codesign.search)
    assert codesign.train.__module__ == "codesign.api"
