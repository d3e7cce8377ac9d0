"""The package's folders show the data flow: no module imports one of a layer above it, and
module-level imports form no cycle (README's layout table states the layers)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "sgdllm"

PIPELINE = {"discretize", "kernel", "calibration", "impute", "predict", "metrics", "truth"}
#: Each layer and the layers it may import at run time (type-only imports are free).
ALLOWED = {
    "base": set(),
    "sgd": {"base"},
    "pipeline": {"base"},
    "lm": {"base", "sgd", "pipeline"},
    "plotting": {"base", "sgd", "pipeline"},
    "studies": {"base", "sgd", "pipeline", "lm", "plotting"},
    "book": {"base", "sgd", "pipeline", "lm", "plotting", "studies"},
    "top": {"base", "sgd", "pipeline", "lm", "plotting", "studies", "book"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ("cli", "__main__"):
        return "top"
    if parts[1] in ("outputs", "provenance"):
        return "base"
    if parts[1] in PIPELINE:
        return "pipeline"
    return parts[1]


def runtime_imports(path: Path) -> list[tuple[str, bool]]:
    """``(module, at_module_level)`` of every ``sgdllm`` import outside ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text())
    skip = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for stmt in block.body
        for node in ast.walk(stmt)
    }
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sgdllm"):
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("sgdllm")]
        found += [(name, id(node) in top) for name in names]
    return found


def test_no_module_imports_a_layer_above_its_own():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = module_name(path)
        for target, _ in runtime_imports(path):
            src, dst = layer(source), layer(target)
            if dst != src and dst not in ALLOWED[src]:
                upward.append(f"{source} ({src}) imports {target} ({dst})")
    assert not upward, "imports against the data flow:\n" + "\n".join(upward)


def test_module_level_imports_form_no_cycle():
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {
        name: {t for t, at_top in runtime_imports(path) if at_top and t in modules and t != name}
        for name, path in modules.items()
    }
    # a package's __init__ re-exporting its submodules is not a cycle of the data flow
    graph = {n: {t for t in ts if not n.startswith(t + ".")} for n, ts in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        stack.pop()
        return None

    for name in sorted(graph):
        if name not in state:
            cycle = visit(name)
            assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


def test_the_layer_rules_see_every_folder():
    folders = {layer(module_name(p)) for p in PACKAGE.rglob("*.py")}
    assert folders <= set(ALLOWED), f"a folder without a layer rule: {folders - set(ALLOWED)}"
    assert {"sgd", "pipeline", "lm", "studies", "book", "plotting", "base", "top"} <= folders
