"""The package's layers, checked on every import (module level and inside functions alike).

README.md "Architecture" lists the layers and what each may import; this test reads every
module's syntax tree and fails on a breach:

- a module imports only from its own layer or lower ones (`LAYERS`, lowest first);
- library code (everything below the command line and the web desk) never imports `rich`:
  progress and messages reach it as callbacks;
- no module imports another module's private name (`_name`);
- no import cycle between modules.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "osint_video"

# Lowest first. A module belongs to the first layer with a prefix matching its name.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "core",
        (
            "osint_video",  # the package itself (__init__)
            "osint_video.errors",
            "osint_video.models",
            "osint_video.config",
            "osint_video.version",
            "osint_video.tools",
            "osint_video.lossless",
            "osint_video.errlog",
            "osint_video.paths",
            "osint_video.progress",
            "osint_video.addresses",
            "osint_video.hashing",
            "osint_video.custody.chain",
        ),
    ),
    (
        "media",
        ("osint_video.media", "osint_video.keyframes", "osint_video.ocr", "osint_video.sound"),
    ),
    ("store", ("osint_video.store", "osint_video.workspace")),
    (
        "analysis",
        (
            "osint_video.anomalies",
            "osint_video.matching",
            "osint_video.custody",
            "osint_video.report",
            "osint_video.annotate.validate",  # pure checks of values against our label configs
        ),
    ),
    ("pipeline", ("osint_video.steps", "osint_video.pipeline", "osint_video.pool")),
    ("desk", ("osint_video.desk", "osint_video.labelstudio", "osint_video.annotate")),
    ("demo", ("osint_video.sample",)),
    (
        "services",
        (
            "osint_video.service",
            "osint_video.report.service",
            "osint_video.annotate.service",
            "osint_video.custody.service",
        ),
    ),
    ("interfaces", ("osint_video.commands", "osint_video.cli", "osint_video.web")),
]
INTERFACES = "interfaces"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _layer(module: str) -> int:
    best, rank = -1, -1
    for i, (_name, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, rank = len(p), i
    assert rank >= 0, f"{module} is in no layer: add it to LAYERS and README's Architecture"
    return rank


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[tuple[str, list[str]]]:
    """(imported module, names taken from it) of one import statement."""
    if isinstance(node, ast.Import):
        return [(a.name, []) for a in node.names]
    if node.level:
        base = module.split(".")
        package = base if MODULES[module].name == "__init__.py" else base[:-1]
        package = package[: len(package) - (node.level - 1)]
        target = ".".join(package + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    found = [(target, [a.name for a in node.names])]
    found += [(f"{target}.{a.name}", []) for a in node.names if f"{target}.{a.name}" in MODULES]
    return found


def _imports() -> dict[str, list[tuple[str, list[str], int]]]:
    out: dict[str, list[tuple[str, list[str], int]]] = defaultdict(list)
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target, names in _targets(module, node):
                    out[module].append((target, names, node.lineno))
    return out


IMPORTS = _imports()


def _ours(target: str) -> str | None:
    """The module of ours an import names (a name inside a module counts as the module)."""
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


def test_every_module_imports_only_its_own_layer_or_lower() -> None:
    breaches = []
    for module, found in IMPORTS.items():
        mine = _layer(module)
        for target, _names, line in found:
            ours = _ours(target) if target.startswith("osint_video") else None
            if ours and ours != module and _layer(ours) > mine:
                breaches.append(
                    f"{MODULES[module].relative_to(REPO)}:{line}: {module} "
                    f"({LAYERS[mine][0]}) imports {ours} ({LAYERS[_layer(ours)][0]})"
                )
    assert breaches == []


def test_library_code_never_imports_rich() -> None:
    interfaces = next(i for i, (name, _p) in enumerate(LAYERS) if name == INTERFACES)
    found = [
        f"{MODULES[m].relative_to(REPO)}:{line}"
        for m, imports in IMPORTS.items()
        for target, _names, line in imports
        if (target == "rich" or target.startswith("rich.")) and _layer(m) < interfaces
    ]
    assert found == []


def test_no_private_name_is_imported_across_modules() -> None:
    found = [
        f"{MODULES[m].relative_to(REPO)}:{line}: {name} from {target}"
        for m, imports in IMPORTS.items()
        for target, names, line in imports
        if target.startswith("osint_video") and _ours(target) != m
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert found == []


def test_no_import_cycle() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    for module, found in IMPORTS.items():
        for target, _names, _line in found:
            ours = _ours(target) if target.startswith("osint_video") else None
            if ours and ours != module:
                edges[module].add(ours)
    cycles = _cycles(edges)
    assert cycles == [], "\n".join(" -> ".join(c) for c in cycles)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(MODULES):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    group = []
                    while True:
                        x = stack.pop()
                        on.discard(x)
                        group.append(x)
                        if x == v:
                            break
                    if len(group) > 1:
                        out.append(sorted(group))
            elif w not in index:
                index[w] = low[w] = counter
                counter += 1
                stack.append(w)
                on.add(w)
                work.append((w, iter(sorted(edges[w]))))
            elif w in on:
                low[v] = min(low[v], index[w])
    return out


def test_the_readme_lists_every_layer() -> None:
    text = (REPO / "README.md").read_text("utf-8")
    section = text[text.index("### Architecture") :]
    for name, _prefixes in LAYERS:
        assert f"**{name}**" in section, name


def test_the_pipeline_does_not_import_pandas() -> None:
    """pytesseract imports pandas (and pyarrow) whenever it is installed, which
    label-studio-sdk makes so: ~70 MB resident in every triage for output we never ask for
    (`ocr.tesseract._import_pytesseract`). The pipeline, OCR included, must not pull it in."""
    import subprocess
    import sys

    code = (
        "import sys, osint_video.pipeline, osint_video.ocr.tesseract as t;"
        "print(sorted(m for m in ('pandas', 'pyarrow') if m in sys.modules));"
        "print(t.pytesseract.get_tesseract_version is not None)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["[]", "True"]
