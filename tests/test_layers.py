"""The library's imports form layers (docs/architecture.md): no cycles, and no module imports one
from a layer above it. Function-local imports count too."""
import ast
from pathlib import Path

LIBRARY = Path(__file__).resolve().parents[1] / "workflow"

#: lowest first; a module may import its own layer or any below
LAYERS = [
    # foundations: no TensorFlow at import, read while Snakemake parses
    ("opscore.tf", "opscore.integrity", "opscore.job", "opscore.kinds.registry", "opscore.decide.score", "opscore.slurm_profile",
     "opscore.runtimes.litert", "opscore.runtimes.onnx", "opscore.benchmark.contention", "opscore.benchmark.loadgen"),
    # data, measuring, training primitives
    ("opscore.data", "opscore.decide.ranking", "opscore.measure.quality", "opscore.measure.costs", "opscore.models.scratch", "opscore.decide.selection",
     "opscore.models.checkpoints", "opscore.models.training", "opscore.measure.uncertainty"),
    # models, the config, charts
    ("opscore.models.applications", "opscore.config", "opscore.report.plots", "opscore.archive", "opscore.jobs.context"),
    # the techniques and the studies
    ("opscore.compression", "opscore.models.transfer", "opscore.report.studies", "opscore.report.pareto_plots"),
    # runtimes: an artifact loaded and invoked as deployed (LiteRT's and ONNX Runtime's are foundations)
    ("opscore.runtimes",),
    # deployment view over every kind; the benchmark that times them all
    ("opscore.runtimes.deploy", "opscore.benchmark", "opscore.jobs.derivation"),
]


def layer_of(module: str) -> int:
    for index, prefixes in enumerate(LAYERS):
        if any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes):
            return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS (and docs/architecture.md)")


def import_graph() -> dict[str, set[str]]:
    modules = {}
    for path in (LIBRARY / "opscore").rglob("*.py"):
        name = ".".join(path.relative_to(LIBRARY).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = path
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


def test_no_module_imports_from_a_layer_above():
    upward = [f"{source} -> {target}" for source, targets in import_graph().items() if source != "opscore"
              for target in targets if layer_of(target) > layer_of(source)]
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
