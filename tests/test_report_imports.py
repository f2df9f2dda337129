"""`report/` renders from report.json and the derived folder only: no module of it imports
`osint_video.media` (the code that opens evidence files), not even inside a function."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import osint_video.report

REPORT = Path(osint_video.report.__file__).resolve().parent
FORBIDDEN = "osint_video.media"


def imported(source: str, package: str) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in `source`, a module of `package`:
    top level or nested, relative ones resolved, `importlib.import_module("...")` included."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = ".".join(parts[: len(parts) - node.level + 1]) if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            if node.module is None:  # from .. import media
                yield from ((node.lineno, f"{module}.{alias.name}") for alias in node.names)
            else:
                yield node.lineno, module
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if name in ("import_module", "__import__") and isinstance(first, ast.Constant):
                yield node.lineno, str(first.value)


def breaches(source: str, package: str = "osint_video.report") -> list[str]:
    return [
        f"line {line}: {name}"
        for line, name in imported(source, package)
        if name == FORBIDDEN or name.startswith(FORBIDDEN + ".")
    ]


def test_the_checker_finds_every_kind_of_import() -> None:
    sneaky = (
        "import osint_video.media.probe\n"
        "def f():\n    from ..media.credentials import signed_thumbnail\n"
        "def g():\n    from .. import media\n"
        "def h():\n    importlib.import_module('osint_video.media.strip')\n"
        "from ..models import describe_credentials\n"
        "from .view import build_view\n"
    )
    assert len(breaches(sneaky)) == 4
    assert breaches("from ..media import ffmpeg", "osint_video.report.sub") == []  # report.media


def test_no_report_module_imports_media() -> None:
    modules = sorted(REPORT.rglob("*.py"))
    assert {p.name for p in modules} >= {"render.py", "view.py", "formats.py", "markdown.py"}
    found = {
        str(p.relative_to(REPORT)): hits
        for p in modules
        if (hits := breaches(p.read_text("utf-8"), _package(p)))
    }
    assert found == {}


def _package(path: Path) -> str:
    rel = path.relative_to(REPORT).parent.parts
    return ".".join(("osint_video", "report", *rel))
