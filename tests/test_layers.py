"""The library's packages are wings (docs/architecture.md): every module belongs to one, and a module
imports from its own wing or a lower one, never from a wing above (so no cycle between wings).
Function-local imports count too; a kind's module, imported by name through the registry
(``Kind.implementation()``), is not an edge."""
import ast
from pathlib import Path

LIBRARY = Path(__file__).resolve().parents[1] / "workflow"

#: lowest first; a module may import its own wing or any below. A wing is a package of opscore, or
#: top-level modules named one by one.
WINGS = [
    # plumbing: TensorFlow's import, atomic writes and the job's start and end, the artifacts' records
    ("plumbing", ("opscore.tf", "opscore.job", "opscore.integrity")),
    ("kinds", ("opscore.kinds",)),
    ("data", ("opscore.data",)),
    ("models", ("opscore.models",)),
    ("measure", ("opscore.measure",)),
    ("runtimes", ("opscore.runtimes",)),
    ("compression", ("opscore.compression",)),
    ("benchmark", ("opscore.benchmark",)),
    ("jobs", ("opscore.jobs",)),
    ("decide", ("opscore.decide",)),
    ("report", ("opscore.report",)),
    # the top: the config, the run's archive, the Slurm profile (may import any wing)
    ("top", ("opscore.config", "opscore.archive", "opscore.slurm_profile")),
]


def wing_of(module: str) -> int:
    for index, (_, prefixes) in enumerate(WINGS):
        if any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes):
            return index
    raise AssertionError(f"{module} is in no wing: add it to WINGS (and docs/architecture.md)")


def library_modules() -> dict[str, Path]:
    modules = {}
    for path in (LIBRARY / "opscore").rglob("*.py"):
        name = ".".join(path.relative_to(LIBRARY).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = path
    return modules


def import_graph() -> dict[str, set[str]]:
    modules = library_modules()
    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("opscore"):
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    targets.add(submodule if submodule in modules else node.module)
            elif isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names if alias.name.startswith("opscore")}
        graph[name] = targets - {name, "opscore"}
    return graph


def test_every_module_belongs_to_a_wing():
    for module in library_modules():
        if module != "opscore":
            wing_of(module)


def test_no_module_imports_from_a_wing_above():
    upward = [f"{source} -> {target}" for source, targets in import_graph().items() if source != "opscore"
              for target in targets if wing_of(target) > wing_of(source)]
    assert upward == []


def test_imports_have_no_cycles():
    graph, state, cycles = import_graph(), {}, []

    def visit(module, path):
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                cycles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_registries_import_no_tensorflow():
    """What the Snakefile imports while parsing stays light (no TensorFlow, no altair)."""
    import subprocess
    import sys

    code = ("import sys; import opscore.kinds.registry, opscore.config, opscore.report.studies, opscore.data.archives; "
            "print(sorted(m for m in ('tensorflow', 'altair', 'tf_keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(LIBRARY), "PATH": ""}).stdout
    assert out.strip() == "[]"
