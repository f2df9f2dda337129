"""The HTML report in a real headless Chromium (Debian's): nothing leaves the page, images paint,
and a hostile title runs nothing."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from conftest import missing
from custody_helpers import clip_sha, make_workspace, run
from PIL import Image, ImageStat

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND",
]


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    missing("the chromium binary (Debian package chromium)")
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the playwright package")
    exe = chromium_path()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory, shared_media: Path) -> Path:
    home = tmp_path_factory.mktemp("browser") / "ws"
    make_workspace(home, shared_media)
    run(home, "report", "--case", "kursk", "--format", "html")
    return home


def is_external(url: str) -> bool:
    """Anything but the page's own local file (a file URL with a host is a network share)."""
    parsed = urlparse(url)
    return not (parsed.scheme == "file" and parsed.netloc == "") and parsed.scheme != "data"


def open_page(browser: Any, page_path: Path) -> tuple[Any, Any, list[str]]:
    context = browser.new_context(viewport={"width": 1200, "height": 900}, java_script_enabled=True)
    requests: list[str] = []
    context.on("request", lambda r: requests.append(r.url))
    context.route(
        "**/*", lambda route: route.abort() if is_external(route.request.url) else route.continue_()
    )
    page = context.new_page()
    page.goto(page_path.as_uri(), wait_until="load")
    return context, page, requests


def blankness(png: bytes) -> tuple[int, float]:
    with Image.open(io.BytesIO(png)) as img:
        rgb = img.convert("RGB")
        colours = rgb.getcolors(1 << 24) or []
        return len(colours), max(ImageStat.Stat(rgb).stddev)


def test_clip_report_paints_and_stays_offline(browser: Any, ws: Path, tmp_path: Path) -> None:
    sha = clip_sha(ws, 1)
    report = json.loads((ws / "derived" / sha / "report.json").read_text())
    context, page, requests = open_page(browser, ws / "derived" / sha / "report.html")
    try:
        assert [u for u in requests if is_external(u)] == []
        assert requests == [(ws / "derived" / sha / "report.html").as_uri()]
        images = page.eval_on_selector_all(
            "figure.tile img",
            "els => els.map(e => [e.complete, e.naturalWidth, e.getBoundingClientRect().width])",
        )
        assert len(images) == len(report["keyframes"]) > 0
        assert all(done and natural > 0 and shown > 0 for done, natural, shown in images)
        tile = page.locator("figure.tile img").first
        tile.scroll_into_view_if_needed()
        colours, spread = blankness(tile.screenshot())
        assert colours > 100 and spread > 10  # a real frame, not a blank box
        colours, spread = blankness(page.screenshot(full_page=True))
        assert colours > 200 and spread > 10
        assert page.locator("tr.custody-event").count() == len(report["custody"])
    finally:
        context.close()


def test_hostile_title_runs_nothing(browser: Any, ws: Path) -> None:
    sha = clip_sha(ws, 2)
    context, page, requests = open_page(browser, ws / "derived" / sha / "report.html")
    try:
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.locator("script").count() == 0
        assert "<script>window.__pwned=1</script>" in (
            page.locator("details.raw pre").text_content() or ""
        )
        assert [u for u in requests if is_external(u)] == []  # the <img src=x> never loaded
    finally:
        context.close()


def test_case_report_paints(browser: Any, ws: Path) -> None:
    context, page, requests = open_page(browser, ws / "reports" / "case-kursk.html")
    try:
        assert [u for u in requests if is_external(u)] == []
        assert page.locator("tr.case-clip").count() == 2
        colours, spread = blankness(page.screenshot())
        assert colours > 20 and spread > 10
    finally:
        context.close()
