"""The web desk over HTTP on a real server and workspace: the board (cards of copies, filters,
counts, paging), the clip page (matches side by side, metadata as text, range requests),
actions with the compare-and-set conflict, downloads, the case page, and intake (uploads good
and bad, URLs good and failing, processed in the background)."""

from __future__ import annotations

import hashlib
import io
import os
import re
import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from synth import make_cut_clip
from webdesk import clip_site, desk_copy, login, serving, wait_for

from osint_video.config import load_config


@pytest.fixture(scope="module")
def www(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with clip_site(tmp_path_factory.mktemp("www")) as url:
        yield url


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, object]]:
    home = desk_copy(tmp_path_factory, "webdesk")
    env = {
        **os.environ,
        "OSINT_VIDEO__QUEUE__ALLOW_NETWORKS": "127.0.0.1/32",
        "OSINT_VIDEO__WEB__MAX_UPLOAD_MB": "0.5",
    }
    cfg = load_config(home=home, environ=env)
    with serving(cfg) as (base, app):
        yield base, home, app


@pytest.fixture(scope="module")
def ed(desk: tuple[str, Path, object]) -> httpx.Client:
    return login(desk[0], "ed")


def cards(html: str) -> dict[int, str]:
    return {
        int(m.group(1)): m.group(0)
        for m in re.finditer(r'<li class="card[^"]*" data-clip="(\d+)".*?</li>\n', html, re.S)
    }


def test_board_one_card_per_footage_with_filters(ed: httpx.Client) -> None:
    page = ed.get("/")
    shown = cards(page.text)
    assert sorted(shown) == [1, 2]  # the repost (3) is a copy on the sample's card
    assert "1 copy" in shown[1] and "copy" not in shown[2].split("facts")[1]
    assert 'data-count="processed">3<' in page.text
    assert "/clips/1/thumb.png" in shown[1]
    # free text: a repost's note finds the footage's card; on-screen text (Cyrillic) too
    assert sorted(cards(ed.get("/", params={"q": "MIRRORED repost"}).text)) == [1]
    assert sorted(cards(ed.get("/", params={"q": "колонна"}).text)) == [1]
    assert sorted(cards(ed.get("/", params={"q": "hostile"}).text)) == [2]
    assert sorted(cards(ed.get("/", params={"q": "example.org/channel"}).text)) == [1]
    assert cards(ed.get("/", params={"q": "nothing like it"}).text) == {}
    other = ed.get("/", params={"case": "<i>other</i>"})
    assert sorted(cards(other.text)) == [2] and "<i>other</i>" not in other.text
    assert cards(ed.get("/", params={"status": "failed"}).text) == {}
    oldest = list(cards(ed.get("/", params={"sort": "oldest"}).text))
    assert oldest == [1, 2] and list(cards(ed.get("/").text)) == [2, 1]


def test_board_pages_and_live_state(desk: tuple[str, Path, object]) -> None:
    base, home, _app = desk
    env = {**os.environ, "OSINT_VIDEO__WEB__PAGE_SIZE": "1"}
    with serving(load_config(home=home, environ=env)) as (small, _a):
        c = login(small, "vi")
        first = c.get("/")
        assert "page 1 of 2" in first.text and len(cards(first.text)) == 1
        second = c.get("/", params={"page": 2})
        assert set(cards(second.text)) | set(cards(first.text)) == {1, 2}
        state = c.get("/board/state").json()["digest"]
        partial = c.get("/board/cards")
        assert partial.status_code == 200 and "<html" not in partial.text
        assert c.get("/board/state").json()["digest"] == state  # nothing changed


def test_clip_page_matches_side_by_side(ed: httpx.Client) -> None:
    repost = ed.get("/clips/3").text
    assert "Seen before:" in repost and 'href="/clips/1"' in repost
    assert re.search(r"00:00–00:1\d there ~ 00:00–00:1\d here", repost)
    assert re.search(r'<video class="here flip"[^>]*src="/clips/3/stripped"', repost)
    assert re.search(r'<video class="there"[^>]*src="/clips/1/stripped"', repost)
    assert "mirrored copy, shown flipped back" in repost
    sample = ed.get("/clips/1").text
    assert "Seen later:" in sample and re.search(r'<video class="there flip"[^>]*/clips/3/', sample)
    assert 'class="play-both"' in sample and 'data-there="0.0"' in sample


def test_clip_page_shows_everything_as_text(ed: httpx.Client) -> None:
    page = ed.get("/clips/2")
    assert page.status_code == 200
    html = page.text
    assert "<script>window.__pwned" not in html and "<img src=x" not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    assert "&lt;i&gt;other&lt;/i&gt;" in html and "<i>other</i>" not in html
    sample = ed.get("/clips/1").text
    assert "first &lt;b&gt;sighting&lt;/b&gt;" in sample
    for part in ("Anomalies", "Metadata", "Content Credentials", "On-screen text", "Custody",
                 "Downloads", "Acquisitions", "Annotations and verdict"):  # fmt: skip
        assert f"<h2>{part}</h2>" in sample
    assert "КОЛОННА" in sample and 'class="seek"' in sample and '<svg class="timeline"' in sample
    # anomalies come before the rest of the metadata
    assert sample.index("<h2>Anomalies</h2>") < sample.index("<h2>Metadata</h2>")


def test_unknown_clips_are_404_pages(ed: httpx.Client) -> None:
    for path in ("/clips/999", "/clips/abc", "/clips/999/stripped", "/clips/1/keyframes/999.png"):
        r = ed.get(path, headers={"accept": "text/html"})
        assert r.status_code == 404, path
    assert "no clip with id 999" in ed.get("/clips/999", headers={"accept": "text/html"}).text


def test_files_ranges_and_downloads(ed: httpx.Client, desk: tuple[str, Path, object]) -> None:
    _base, home, _app = desk
    r = ed.get("/clips/1/stripped", headers={"Range": "bytes=100-199"})
    assert r.status_code == 206 and len(r.content) == 100
    assert r.headers["content-range"].startswith("bytes 100-199/")
    full = ed.get("/clips/1/stripped").content
    assert full[100:200] == r.content
    original = ed.get("/clips/1/original")
    sha = hashlib.sha256(original.content).hexdigest()
    assert original.status_code == 200 and (home / "derived" / sha).is_dir()
    assert "attachment" in original.headers["content-disposition"]
    md = ed.get("/clips/1/report.md")
    assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
    assert ed.get("/clips/1/report.json.sig").status_code == 200
    html = ed.get("/clips/1/report.html")
    assert "sandbox" in html.headers["content-security-policy"]
    z = zipfile.ZipFile(io.BytesIO(ed.get("/clips/1/keyframes.zip").content))
    assert z.namelist() and all(n.endswith(".png") for n in z.namelist())
    wait_for(lambda: not list((home / "tmp").glob("keyframes-*")), 10)  # removed once sent


def test_case_page(ed: httpx.Client) -> None:
    page = ed.get("/cases/kursk")
    assert page.status_code == 200
    assert (
        page.text.count('class="mark"') == 3
    )  # 2 acquired; only the sample states a creation time
    assert sorted(cards(page.text)) == [1]
    report = ed.get("/cases/kursk/report.json")
    assert report.status_code == 200 and len(report.json()["clips"]) == 2
    assert ed.get("/cases/none-such", headers={"accept": "text/html"}).status_code == 404


def test_actions_and_the_conflict_message(desk: tuple[str, Path, object]) -> None:
    base = desk[0]
    ed, ed2 = login(base, "ed"), login(base, "ed2")
    before = ed.get("/board/state").json()["digest"]
    form = {"status": "in_review", "expected": "processed", "note": "to <b>review</b>"}
    assert ed.post("/clips/2/status", data=form).status_code == 303
    assert ed.get("/board/state").json()["digest"] != before
    stale = ed2.post("/clips/2/status", data={**form, "status": "queued"})
    assert stale.status_code == 409
    assert "clip 2 changed from processed to in_review by someone else" in stale.text
    assert 'id="status">in_review<' in stale.text  # the page as it is now
    bad = ed.post("/clips/2/status", data={"status": "queued", "expected": "in_review"})
    assert bad.status_code == 400 and "cannot go from in_review to queued" in bad.text
    assert ed.post("/clips/2/assign", data={"assignee": "olena"}).status_code == 303
    assert ed.post("/clips/2/priority", data={"priority": "urgent"}).status_code == 303
    assert ed.post("/clips/2/note", data={"note": "<script>x</script> checked"}).status_code == 303
    page = ed.get("/clips/2").text
    events = re.findall(r"<b>(\w+)</b> by (\w+)", page.split("<h2>Custody</h2>")[1])
    assert ("status_changed", "ed") in events and ("assigned", "ed") in events
    assert ("priority_set", "ed") in events and ("note_added", "ed") in events
    assert "&lt;script&gt;x&lt;/script&gt; checked" in page and "to &lt;b&gt;review" in page
    assigned = ed.get("/", params={"assignee": "olena", "priority": "urgent"})
    assert sorted(cards(assigned.text)) == [2]


def _multipart(csrf: str, files: list[tuple[str, bytes]], **fields: str) -> tuple[bytes, str]:
    boundary = "osvtestboundary"
    parts = [("csrf", None, csrf.encode())] + [(k, None, v.encode()) for k, v in fields.items()]
    parts += [("files", name, data) for name, data in files]
    out = b""
    for name, filename, data in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disp}\r\n\r\n".encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_upload_good_and_bad_files(
    ed: httpx.Client, desk: tuple[str, Path, object], tmp_path: Path
) -> None:
    base, home, app = desk
    good = make_cut_clip(tmp_path / "from the field.mp4", [6], 15, size=(160, 120)).read_bytes()
    csrf = ed.headers["x-csrf-token"]
    body, ctype = _multipart(
        csrf,
        [("../../from the field.mp4", good), ("empty.mp4", b""), ("junk.mp4", b"\x00junk" * 99)],
        case="upload-case", priority="high", note="<u>via web</u>",
    )  # fmt: skip
    r = ed.post("/intake/upload", content=body, headers={"content-type": ctype})
    assert r.status_code == 400  # some files were refused
    assert re.search(r"from the field.mp4: clip <a href=\"/clips/(\d+)\"", r.text)
    assert 'empty.mp4: <span class="reason">empty file' in r.text
    assert re.search(r"junk.mp4: <span class=\"reason\">[^<]*not", r.text)
    clip_id = int(re.search(r'/clips/(\d+)"', r.text).group(1))  # type: ignore[union-attr]
    done = wait_for(lambda: 'id="status">processed<' in ed.get(f"/clips/{clip_id}").text, 180)
    assert done
    page = ed.get(f"/clips/{clip_id}").text
    assert "from the field.mp4" in page and "&lt;u&gt;via web&lt;/u&gt;" in page
    assert re.search(r"<b>acquired</b> by ed|<b>\w+</b> by ed", page)
    assert not [p for p in (home / "tmp").iterdir() if p.name.startswith("upload-")]

    big, ctype = _multipart(csrf, [("big.mp4", b"\x00" * 600_000)])
    r = ed.post("/intake/upload", content=big, headers={"content-type": ctype})
    assert r.status_code == 413 and "larger than the limit of 0.5 MB" in r.text
    forged, ctype = _multipart("forged", [("x.mp4", good)])
    assert (
        ed.post("/intake/upload", content=forged, headers={"content-type": ctype}).status_code
        == 403
    )
    cut = body[: len(body) // 2]  # the body ends before the closing boundary
    r = ed.post("/intake/upload", content=cut, headers={"content-type": ctype})
    assert r.status_code == 400 and "cut off before its end: nothing was kept" in r.text
    _cut_off_mid_way(base, ed, body, ctype)
    assert not [p for p in (home / "tmp").iterdir() if p.name.startswith("upload-")]


def _cut_off_mid_way(base: str, ed: httpx.Client, body: bytes, ctype: str) -> None:
    """A client that announces the whole body, sends half and disconnects."""
    host, port = base.removeprefix("http://").split(":")
    cookie = "; ".join(f"{k}={v}" for k, v in ed.cookies.items())
    head = (
        f"POST /intake/upload HTTP/1.1\r\nHost: {host}\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(body)}\r\nCookie: {cookie}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(head + body[: len(body) // 2])
    import time

    time.sleep(1.0)


def test_urls_good_and_failing(ed: httpx.Client, www: str) -> None:
    form = {"urls": f"{www}/ka52.mp4\n{www}/missing.mp4\n", "case": "url-case", "note": "pasted"}
    r = ed.post("/intake/urls", data=form)
    assert r.status_code == 303
    board = wait_for(
        lambda: (
            t if "u1" in (t := ed.get("/", params={"case": "url-case"}).text) and "ka52" in t
            and "pending-item" not in t else None
        ),
        180,
    )  # fmt: skip
    assert "404" in board.split('data-item="u1"')[1].split("</li>")[0]
    clip = int(re.search(r'data-clip="(\d+)"[^>]*>\s*<a class="thumb" href="/clips/\d+">', board)
               .group(1))  # type: ignore[union-attr]  # fmt: skip
    wait_for(lambda: 'id="status">processed<' in ed.get(f"/clips/{clip}").text, 180)
    assert ed.post("/intake/retry/u1").status_code == 303
    wait_for(lambda: "2 attempt(s)" in ed.get("/", params={"case": "url-case"}).text, 120)


def test_match_again_and_push_without_a_server(
    desk: tuple[str, Path, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    base = desk[0]
    ed = login(base, "ed")
    assert ed.post("/clips/3/match").status_code == 303
    page = ed.get("/clips/3").text.split("<h2>Custody</h2>")[1]
    assert re.findall(r"<b>(\w+)</b> by (\w+)", page)[-3:] == [
        ("matched", "ed"),
        ("sound_matched", "ed"),  # by picture and sound, as `match` does
        ("report_generated", "ed"),
    ]
    assert "Seen before:" in ed.get("/clips/3").text  # the match stands
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    r = ed.post("/clips/3/push")  # no Label Studio here: one line in the page, not a 500
    assert r.status_code == 400 and "no Label Studio server" in r.text


def test_web_package_imports_the_public_api_only() -> None:
    """No import of commands/ or cli.py, of rich, or of a private name of another module."""
    import ast

    root = Path(__file__).resolve().parents[1] / "osint_video" / "web"
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                mod = ("." * node.level) + (node.module or "")
                assert "commands" not in mod and not mod.endswith("cli"), (path.name, mod)
                assert not mod.startswith("rich"), (path.name, mod)
                if mod.startswith("..") or mod.startswith("osint_video"):
                    private = [a.name for a in node.names if a.name.startswith("_")]
                    assert not private, (path.name, mod, private)
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("rich") for a in node.names), path.name
