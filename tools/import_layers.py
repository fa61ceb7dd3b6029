"""Check the import rules of docs/architecture.md and print the layer map.

    python tools/import_layers.py          # the layers, the imports between them, and a verdict

Rules checked (every import statement counts, also those inside functions):
1. Each module imports only from its own package and from the layers below its own.
2. A private name (a ``_module`` or a ``_name``) is imported only inside the package that holds
   it; under tests/ only by the test of that module (tests/test_closed_form.py may import
   richlazy._closed_form); under bench/ never.
3. Scripts under bench/ do not import each other.
4. The import graph of richlazy has no cycle.
Exit status 0 when every rule holds, 1 otherwise (each breach is printed).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "richlazy"

# Bottom to top. A module belongs to the first layer one of whose prefixes it starts with.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("the package's version and commit", ("richlazy._version", "richlazy._source")),
    ("input checks", ("richlazy._validate", "richlazy._exports")),
    ("bounded integration, runtime", ("richlazy._ode", "richlazy.runtime")),
    (
        "numerical helpers of the theory",
        (
            "richlazy._linear_algebra",
            "richlazy._kernel",
            "richlazy._closed_form",
            "richlazy._implicit_bias",
        ),
    ),
    (
        "theory (NumPy/SciPy)",
        ("richlazy.single_neuron", "richlazy.wide_linear", "richlazy.deep_linear"),
    ),
    ("batched two-layer networks", ("richlazy.nets",)),
    (
        "engine, metrics, data, any-model tools, result store",
        ("richlazy.train", "richlazy.metrics", "richlazy.data", "richlazy.nn", "richlazy.store"),
    ),
    ("sweeps", ("richlazy.sweeps",)),
    ("experiments and benchmarks", ("richlazy.experiments", "richlazy.benchmarks")),
    ("report", ("richlazy.report",)),
    ("command line", ("richlazy.cli",)),
    ("package entry points", ("richlazy.__main__", "richlazy")),
]


def matches(module: str, prefix: str) -> bool:
    """Whether ``prefix`` places ``module`` (the package itself places only its __init__)."""
    return module == prefix or (prefix != PACKAGE and module.startswith(prefix + "."))


def layer_of(module: str) -> int:
    """Index in LAYERS of ``module`` (the longest matching prefix wins)."""
    best, length = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if matches(module, prefix) and len(prefix) > length:
                best, length = index, len(prefix)
    if best is None:
        raise ValueError(f"{module} is in no layer: add it to LAYERS in tools/import_layers.py")
    return best


def group_of(module: str) -> str:
    """The unit a module belongs to inside its layer (the prefix that placed it)."""
    matches = [
        p for _, prefixes in LAYERS for p in prefixes if module == p or module.startswith(p + ".")
    ]
    return max(matches, key=len)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT / "src").with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, module: str | None) -> Iterator[tuple[int, str, str | None]]:
    """(line, module imported, name imported from it or None) for every import in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else (module or "").rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                yield node.lineno, base, alias.name


def is_private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def modules_in_src() -> set[str]:
    return {module_name(p) for p in (ROOT / "src" / PACKAGE).rglob("*.py")}


def resolve(base: str, name: str | None, known: set[str]) -> str:
    """The module an import reaches: ``base.name`` when that is a module, else ``base``."""
    if name is not None and f"{base}.{name}" in known:
        return f"{base}.{name}"
    return base


def private_owner(target: str, name: str | None, known: set[str]) -> str | None:
    """The package inside which the imported thing may be used, or None if it is public."""
    parts = target.split(".")
    for index, part in enumerate(parts):
        if is_private(part):
            return ".".join(parts[:index])
    if name is not None and is_private(name) and f"{target}.{name}" not in known:
        return target.rpartition(".")[0]  # a private name of module ``target``
    return None


def inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def check() -> tuple[list[str], dict[str, set[str]]]:
    """Every breach of the rules, and the import graph of richlazy (module -> modules)."""
    known = modules_in_src()
    breaches: list[str] = []
    graph: dict[str, set[str]] = {m: set() for m in known}
    for path in sorted((ROOT / "src" / PACKAGE).rglob("*.py")):
        module = module_name(path)
        for line, base, name in imports(path, module):
            if not inside(base, PACKAGE):
                continue
            target = resolve(base, name, known)
            where = f"{path.relative_to(ROOT)}:{line}"
            if target != module:
                graph[module].add(target)
            owner = private_owner(target, name, known)
            if owner is not None and not inside(module, owner):
                breaches.append(
                    f"{where}: {module} imports private {target}.{name or ''} of {owner}"
                )
            low, high = layer_of(target), layer_of(module)
            if group_of(target) != group_of(module) and low >= high and target != PACKAGE:
                breaches.append(
                    f"{where}: {module} ({LAYERS[high][0]}) imports {target} ({LAYERS[low][0]}),"
                    " which is not below it"
                )
    breaches += [f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(graph)]
    bench_scripts = {p.stem for p in (ROOT / "bench").glob("*.py")}
    for folder in ("tests", "bench"):
        for path in sorted((ROOT / folder).glob("*.py")):
            for line, base, name in imports(path, None):
                where = f"{path.relative_to(ROOT)}:{line}"
                if folder == "bench" and base.split(".")[0] in bench_scripts:
                    breaches.append(f"{where}: a bench script imports another ({base})")
                if not inside(base, PACKAGE):
                    continue
                target = resolve(base, name, known)
                if private_owner(target, name, known) is None:
                    continue
                tested = path.stem.removeprefix("test_")
                owned = [p.lstrip("_") for p in target.split(".")]
                if folder == "tests" and tested == owned[-1]:
                    continue  # the test of that module itself
                breaches.append(f"{where}: {folder}/ imports private {target}.{name or ''}")
    return breaches, graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected set of modules (iterative DFS)."""
    found, state = [], {}
    for start in sorted(graph):
        if start in state:
            continue
        stack = [(start, iter(sorted(graph[start])))]
        state[start], path = "open", [start]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = "done"
            elif state.get(child) == "open":
                found.append([*path[path.index(child) :], child])
            elif child not in state and child in graph:
                state[child] = "open"
                path.append(child)
                stack.append((child, iter(sorted(graph[child]))))
    return found


def main() -> int:
    breaches, graph = check()
    print("Layers of richlazy, bottom to top (a module imports only its own package and below):")
    for index, (label, prefixes) in enumerate(LAYERS):
        below = sorted(
            {
                group_of(t)
                for m in graph
                if layer_of(m) == index
                for t in graph[m]
                if group_of(t) != group_of(m)
            }
        )
        print(f"  {index}. {label}: {', '.join(prefixes)}")
        if below:
            print(f"       imports: {', '.join(below)}")
    edges = sum(len(targets) for targets in graph.values())
    print(f"\n{len(graph)} modules, {edges} imports between them.")
    if breaches:
        print(f"\n{len(breaches)} breach(es) of the import rules:")
        for breach in breaches:
            print(f"  {breach}")
        return 1
    print("No import cycle; every import goes to the module's own package or a lower layer;")
    print("no private name imported outside its package; bench scripts import no other script.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
