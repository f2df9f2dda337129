"""The web desk in a real browser (Debian's Chromium, headless, driven by Playwright), on
SQLite with the server's own process pool and on PostgreSQL with a real worker: log in, add a
URL and upload a file and watch both reach processed without reloading, play both clips of a
match at the matched range, change a status, meet the conflict message. Every request the
browser makes is recorded, and any to another origin fails the test.

Screenshots of the board and of a clip page with a match side by side are written to
$OSINT_VIDEO_SCREENSHOTS (the README's come from there) or to the test's temp folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import missing
from synth import make_cut_clip
from test_report_browser import CHROMIUM_ARGS, chromium_path
from webdesk import PASSWORDS, add_users, clip_site, desk_copy, serving

from osint_video.config import load_config


@pytest.fixture(scope="module")
def www(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with clip_site(tmp_path_factory.mktemp("www-browser")) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the playwright package")
    args = [a for a in CHROMIUM_ARGS if not a.startswith("--host-resolver-rules")]
    args.append("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
    args.append("--autoplay-policy=no-user-gesture-required")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), headless=True, args=args)
        yield b
        b.close()


def shots_dir(tmp: Path) -> Path:
    out = Path(os.environ.get("OSINT_VIDEO_SCREENSHOTS") or tmp)
    out.mkdir(parents=True, exist_ok=True)
    return out


class Session:
    """A browser context logged in as one user, recording every request."""

    def __init__(self, browser: Any, base: str, name: str) -> None:
        self.base = base
        self.requests: list[str] = []
        self.ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        self.ctx.on("request", lambda r: self.requests.append(r.url))
        self.ctx.route(
            "**/*",
            lambda route: (
                route.continue_() if route.request.url.startswith(base + "/") else route.abort()
            ),
        )
        self.page = self.ctx.new_page()
        self.page.goto(base + "/")
        assert "/login" in self.page.url
        self.page.fill("input[name=name]", name)
        self.page.fill("input[name=password]", PASSWORDS[name])
        self.page.click("button[type=submit]")
        self.page.wait_for_url(base + "/")

    def outside(self) -> list[str]:
        return [u for u in self.requests if not u.startswith(self.base + "/")]

    def close(self) -> None:
        self.ctx.close()


def add_and_watch(s: Session, www: str, upload: Path, processed_before: int) -> None:
    """Queue a URL and upload a file through the pages, then wait on the board, without
    reloading it, until both are processed."""
    page = s.page
    page.goto(s.base + "/intake")
    page.fill("textarea[name=urls]", f"{www}/ka52.mp4")
    page.locator("form[action='/intake/urls'] input[name=case]").fill("browser")
    page.locator("form[action='/intake/urls'] button").click()
    page.wait_for_url(s.base + "/")
    page.goto(s.base + "/intake")
    form = page.locator("form[action='/intake/upload']")
    form.locator("input[name=case]").fill("browser")
    form.locator("input[type=file]").set_input_files(str(upload))
    form.locator("button").click()
    page.wait_for_selector("ul.results li.ok")
    page.goto(s.base + "/")
    page.evaluate("window.__notReloaded = true")
    page.wait_for_function(
        f"""() => Number(document.querySelector('[data-count=processed]').textContent)
            >= {processed_before + 2} && !document.querySelector('.pending-item')
            && Number(document.querySelector('[data-count=queued]').textContent) === 0
            && Number(document.querySelector('[data-count=processing]').textContent) === 0""",
        timeout=240_000,
    )
    assert page.evaluate("window.__notReloaded") is True  # the cards changed in place


def test_desk_in_the_browser_on_sqlite(
    browser: Any, www: str, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    home = desk_copy(tmp_path_factory, "browser")
    env = {**os.environ, "OSINT_VIDEO__QUEUE__ALLOW_NETWORKS": "127.0.0.1/32"}
    upload = make_cut_clip(tmp_path / "upload.mp4", [8], 20, size=(160, 120))
    with serving(load_config(home=home, environ=env)) as (base, _app):
        ed = Session(browser, base, "ed")
        try:
            add_and_watch(ed, www, upload, 3)
            ed.page.screenshot(path=str(shots_dir(tmp_path) / "board.png"))
            _play_both(ed)
            ed.page.screenshot(path=str(shots_dir(tmp_path) / "clip-match.png"), full_page=False)
            _status_and_conflict(browser, ed)
            assert ed.outside() == []
        finally:
            ed.close()


def _play_both(s: Session) -> None:
    page = s.page
    page.goto(s.base + "/clips/3")
    pair = page.locator(".pair").first  # the sample, seen before (mirrored)
    assert "#1 sudzha_sample.mp4" in (pair.locator("h3").text_content() or "")
    flip = pair.locator("video.here").evaluate("v => getComputedStyle(v).transform")
    assert flip.startswith("matrix(-1"), flip  # the mirrored copy is shown flipped back
    button = pair.locator("button.play-both").first
    there0 = float(button.get_attribute("data-there") or 0)
    here0 = float(button.get_attribute("data-here") or 0)
    button.scroll_into_view_if_needed()
    button.click()
    playing = (
        """p => [...p.querySelectorAll('video')].every(v => !v.paused && v.currentTime > 0.5)"""
    )
    pair.element_handle().wait_for_element_state("visible")
    page.wait_for_function(f"() => ({playing})(document.querySelector('.pair'))", timeout=30_000)
    t_there, t_here = pair.evaluate(
        "p => ['there', 'here'].map(c => p.querySelector('video.' + c).currentTime)"
    )
    assert t_there >= there0 and t_here >= here0
    assert abs((t_there - there0) - (t_here - here0)) < 0.5  # in step on the same footage
    pair.scroll_into_view_if_needed()


def _status_and_conflict(browser: Any, ed: Session) -> None:
    other = Session(browser, ed.base, "ed2")
    try:
        for s in (ed, other):
            s.page.goto(ed.base + "/clips/2")
        # clip 2's title tag is HTML with a script: shown as text, run never
        assert other.page.evaluate("typeof window.__pwned") == "undefined"
        assert "<script>window.__pwned=1</script>" in (
            other.page.locator("table.kv").first.text_content() or ""
        )
        ed.page.select_option("form[action='/clips/2/status'] select[name=status]", "in_review")
        ed.page.click("form[action='/clips/2/status'] button")
        ed.page.wait_for_selector("#status:text('in_review')")
        # the other editor's page still shows "processed": their change must not win silently
        other.page.select_option("form[action='/clips/2/status'] select[name=status]", "queued")
        other.page.click("form[action='/clips/2/status'] button")
        msg = other.page.wait_for_selector("#message")
        assert "changed from processed to in_review by someone else; reload and retry" in (
            msg.text_content() or ""
        )
        assert other.outside() == []
    finally:
        other.close()


def test_desk_in_the_browser_on_postgresql(
    browser: Any, www: str, pg_desk_url: str, tmp_path: Path, shared_media: Path
) -> None:
    """A desk: the server only queues; a real `osint-video worker` processes."""
    home = tmp_path / "shared"
    env = {
        **os.environ,
        "OSINT_VIDEO_DB": pg_desk_url,
        "OSINT_VIDEO_HOME": str(home),
        "OSINT_VIDEO_STALLED_AFTER_S": "5",
        "OSINT_VIDEO__QUEUE__ALLOW_NETWORKS": "127.0.0.1/32",
        "OSINT_VIDEO__WORKSPACE__DATABASE_URL": pg_desk_url,  # the server's (os.environ aside)
    }
    add_users(home, {"OSINT_VIDEO_DB": pg_desk_url})
    worker = subprocess.Popen(
        [sys.executable, "-m", "osint_video.cli", "worker", "--concurrency", "2"],
        env={**env, "OSINT_VIDEO_OPERATOR": "worker-1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    upload = make_cut_clip(tmp_path / "upload.mp4", [8], 20, size=(160, 120))
    try:
        with serving(load_config(home=home, environ=env)) as (base, app):
            assert not app.state.desk.jobs.local  # the server processes nothing itself
            ed = Session(browser, base, "ed")
            try:
                add_and_watch(ed, www, upload, 0)
                ed.page.goto(base + "/")
                cards = ed.page.locator(".card").count()
                assert cards >= 1
                first = ed.page.locator(".card a.name").first
                first.click()
                text = ed.page.locator(".custody").text_content() or ""
                assert "by worker-1" in text and "by ed" in text
                assert ed.outside() == []
            finally:
                ed.close()
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
