"""Content Credentials (C2PA): read, summarised, flagged, reported, and gone from the strip.

The files are signed here by the C2PA reference library (`c2pa_files.py`); reading them back
goes through the same library's validator, so "invalid" means its hash check failed.
"""

from __future__ import annotations

import http.server
import io
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from c2pa_files import ca_pem, edited, plain, signed, tampered
from PIL import Image

from osint_video.annotate.push import metadata_summary
from osint_video.anomalies import detect_anomalies
from osint_video.config import ProbeConfig, load_config
from osint_video.errors import ConfigError
from osint_video.media.credentials import read_credentials, signed_thumbnail
from osint_video.media.probe import probe_file
from osint_video.models import ContentCredentials, describe_credentials
from osint_video.report.validation import validate_report
from osint_video.workspace import Workspace

NOW = datetime(2026, 12, 5, tzinfo=UTC)


def _anomalies(path: Path, kind: str) -> dict[str, str]:
    probe = probe_file(path, kind, ProbeConfig())  # type: ignore[arg-type]
    found = detect_anomalies(probe, decode=None, acquired_at=NOW, now=NOW, cfg=ProbeConfig())
    return {a.code: a.severity for a in found}


def test_ai_generated_video_is_read_and_flagged(tmp_path: Path) -> None:
    clip = signed(tmp_path / "gen.mp4", "trainedAlgorithmicMedia", "ImageGen 3")
    probe = probe_file(clip, "video", ProbeConfig())
    cc = probe.metadata.content_credentials
    assert isinstance(cc, ContentCredentials)  # typed from the probe on
    cc = cc.as_json()
    assert cc is not None
    assert (cc["state"], cc["signer"]) == ("valid", "Test Camera")
    assert cc["issuer"] == "osint-video tests"
    assert cc["generator"] == "osint-video-tests 1" and cc["title"] == "gen.mp4"
    assert cc["ai_generated"] and cc["source_types"] == ["trainedAlgorithmicMedia"]
    assert cc["actions"][0]["action"] == "c2pa.created"
    assert cc["actions"][0]["software_agent"] == "ImageGen 3"
    assert cc["problems"] == []  # an untrusted signer is not a problem with the file
    raw = probe.metadata.raw["c2pa"]  # the reader's own report, verbatim
    assert raw["active_manifest"] in raw["manifests"]
    assert probe.media.width == 320  # the rest of the probe is untouched
    found = _anomalies(clip, "video")
    assert found["c2pa_present"] == "info" and found["c2pa_ai_generated"] == "critical"
    assert "c2pa_invalid" not in found


def test_camera_capture_still_is_not_flagged_as_ai(tmp_path: Path) -> None:
    still = signed(tmp_path / "shot.jpg", "digitalCapture", "Test Camera firmware 2.1")
    cc = probe_file(still, "image", ProbeConfig()).metadata.content_credentials
    cc = cc.as_json() if cc is not None else None
    assert cc is not None and cc["state"] == "valid"
    assert not cc["ai_generated"] and cc["source_types"] == ["digitalCapture"]
    found = _anomalies(still, "image")
    assert "c2pa_present" in found
    assert not {"c2pa_ai_generated", "c2pa_invalid"} & set(found)


@pytest.mark.parametrize("suffix", [".mp4", ".jpg"])
def test_a_file_changed_after_signing_is_invalid(tmp_path: Path, suffix: str) -> None:
    good = signed(tmp_path / f"orig{suffix}", "digitalCapture", "cam")
    bad = tampered(good, tmp_path / f"bad{suffix}")
    kind = "video" if suffix == ".mp4" else "image"
    cc = probe_file(bad, kind, ProbeConfig()).metadata.content_credentials
    cc = cc.as_json() if cc is not None else None
    assert cc is not None and cc["state"] == "invalid"
    assert any(p.endswith("Hash.mismatch") for p in cc["problems"]), cc["problems"]
    assert _anomalies(bad, kind)["c2pa_invalid"] == "critical"
    assert probe_file(good, kind, ProbeConfig()).metadata.content_credentials.state == "valid"


def test_files_without_credentials_have_none(tmp_path: Path, shared_media: Path) -> None:
    for path, kind in [
        (plain(tmp_path / "p.mp4"), "video"),
        (plain(tmp_path / "p.jpg"), "image"),
        (shared_media / "MVI_4823.AVI", "video"),  # a type the reader does not handle
        (shared_media / "QuickTime.mov", "video"),  # not a C2PA asset: moov before ftyp
    ]:
        assert read_credentials(path).summary is None
        probe = probe_file(path, kind, ProbeConfig())  # type: ignore[arg-type]
        assert probe.metadata.content_credentials is None and "c2pa" not in probe.metadata.raw


def test_triage_reports_them_and_strips_them(
    tmp_path: Path, home: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    clip = signed(tmp_path / "gen.mp4", "trainedAlgorithmicMedia", "ImageGen 3")
    rc, out, err = cli("triage", str(clip), "--json")
    assert rc == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    validate_report(report)
    cc = report["metadata"]["content_credentials"]
    assert cc["state"] == "valid" and cc["ai_generated"]
    assert {"c2pa_present", "c2pa_ai_generated"} <= {a["code"] for a in report["anomalies"]}
    html = (home / report["derived"]["html_report"]).read_text()
    assert "declares generative AI: trainedAlgorithmicMedia" in html
    assert "<dt>Content Credentials</dt><dd>C2PA valid" in html  # in the summary too
    rc, md, err = cli("report", str(report["clip"]["id"]), "--format", "md")
    assert rc == 0 and "| Content Credentials | valid · signed by Test Camera" in md, err
    stripped = home / report["derived"]["stripped_copy"]
    assert read_credentials(stripped).summary is None  # the working copy shares no manifest
    ws = Workspace.open(load_config(home=home))
    try:  # the annotators' verdict task says it too
        text = metadata_summary(ws.cases.record(report["clip"]["id"]), "kursk")
    finally:
        ws.close()
    assert "Content Credentials (C2PA): valid \u00b7 signed by Test Camera" in text
    still = signed(tmp_path / "shot.jpg", "digitalCapture", "cam")
    rc, out, err = cli("triage", str(still), "--json")
    assert rc == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert report["metadata"]["content_credentials"]["state"] == "valid"
    assert read_credentials(home / report["derived"]["stripped_copy"]).summary is None


def test_a_broken_manifest_store_is_flagged_unreadable(tmp_path: Path) -> None:
    """Bytes inside the JPEG's JUMBF box garbled: the reader cannot find its c2pa block."""
    good = signed(tmp_path / "shot.jpg", "digitalCapture", "cam")
    data = bytearray(good.read_bytes())
    at = data.find(b"jumb") + 20
    data[at : at + 8] = bytes(b ^ 0x5A for b in data[at : at + 8])
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(bytes(data))
    cc = probe_file(bad, "image", ProbeConfig()).metadata.content_credentials
    cc = cc.as_json() if cc is not None else None
    assert cc is not None and cc["state"] == "unreadable" and cc["problems"]
    assert _anomalies(bad, "image") == {"c2pa_unreadable": "warning", **_others(bad)}


def _others(path: Path) -> dict[str, str]:
    return {k: v for k, v in _anomalies(path, "image").items() if not k.startswith("c2pa")}


def test_a_remote_manifest_is_named_and_never_fetched(tmp_path: Path) -> None:
    """The reader's default would GET the URL a file names (a beacon for whoever made it);
    ours must not: a local server records every request."""
    hits: list[str] = []

    class Beacon(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Beacon)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/manifest.c2pa"
        clip = signed(tmp_path / "r.mp4", "digitalCapture", "cam", remote_url=url)
        cc = probe_file(clip, "video", ProbeConfig()).metadata.content_credentials
        cc = cc.as_json() if cc is not None else None
        found = _anomalies(clip, "video")
    finally:
        server.shutdown()
    assert hits == []
    assert cc is not None and cc["state"] == "remote" and cc["remote_url"] == url
    assert "c2pa_remote" in found and "c2pa_unreadable" not in found


def test_a_signer_chaining_to_the_desks_anchors_is_trusted(tmp_path: Path) -> None:
    still = signed(tmp_path / "shot.jpg", "digitalCapture", "cam")
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(ca_pem())
    cfg = ProbeConfig(c2pa_trust_anchors=str(anchors))
    cc = probe_file(still, "image", cfg).metadata.content_credentials
    cc = cc.as_json() if cc is not None else None
    assert cc is not None and cc["state"] == "trusted" and cc["problems"] == []
    assert probe_file(still, "image", ProbeConfig()).metadata.content_credentials.state == (
        "valid"  # the same file without the anchors
    )
    other = tmp_path / "other.pem"  # a real certificate, but not the signer's root
    other.write_bytes(_unrelated_root())
    cc = probe_file(still, "image", ProbeConfig(c2pa_trust_anchors=str(other)))
    assert cc.metadata.content_credentials.state == "valid"


@pytest.mark.parametrize("content", [None, b"not a certificate"])
def test_unusable_trust_anchors_are_a_config_error(tmp_path: Path, content: bytes | None) -> None:
    still = signed(tmp_path / "shot.jpg", "digitalCapture", "cam")
    anchors = tmp_path / "anchors.pem"
    if content is not None:
        anchors.write_bytes(content)
    with pytest.raises(ConfigError, match="probe.c2pa_trust_anchors"):
        probe_file(still, "image", ProbeConfig(c2pa_trust_anchors=str(anchors)))


def _unrelated_root() -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Someone Else's Root")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW.replace(year=2025))
        .not_valid_after(NOW.replace(year=2030))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def test_an_edit_of_an_ai_picture_names_its_parent_and_stays_flagged(tmp_path: Path) -> None:
    """The edit's own actions (opened, colour adjustments) declare no source type; its
    parent's manifest, carried in the store, does."""
    parent = signed(tmp_path / "gen.jpg", "trainedAlgorithmicMedia", "ImageGen 3")
    child = edited(tmp_path / "edited.jpg", parent, "PhotoEditor 9")
    cc = probe_file(child, "image", ProbeConfig()).metadata.content_credentials
    cc = cc.as_json() if cc is not None else None
    assert cc is not None and cc["state"] == "valid" and cc["manifests"] == 2
    assert [a["action"] for a in cc["actions"]] == ["c2pa.opened", "c2pa.color_adjustments"]
    assert cc["generator"] == "PhotoEditor 9"
    assert cc["ingredients"] == [
        {
            "title": "gen.jpg",
            "format": "image/jpeg",
            "relationship": "parentOf",
            "signer": "Test Camera",
            "generator": "osint-video-tests 1",
        }
    ]
    assert cc["ai_generated"] and cc["source_types"] == ["trainedAlgorithmicMedia"]
    assert "made from: gen.jpg (signed by Test Camera)" in describe_credentials(cc)
    assert cc["ai_declared_by"] == ["ImageGen 3"]  # the parent's tool, not the editor
    found = detect_anomalies(
        probe_file(child, "image", ProbeConfig()),
        decode=None,
        acquired_at=NOW,
        now=NOW,
        cfg=ProbeConfig(),
    )
    [ai] = [a for a in found if a.code == "c2pa_ai_generated"]
    assert "(ImageGen 3)" in ai.message and "PhotoEditor" not in ai.message


def test_the_report_shows_the_picture_as_signed(
    tmp_path: Path, home: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    """A still changed after signing: its report carries the thumbnail from its credentials
    (the picture as signed) beside the keyframes; a file without credentials has none."""
    good = signed(tmp_path / "shot.jpg", "digitalCapture", "cam")
    bad = tampered(good, tmp_path / "changed.jpg")
    thumb = signed_thumbnail(bad)
    assert thumb is not None and thumb[:2] == b"\xff\xd8"  # a JPEG
    with Image.open(io.BytesIO(thumb)) as img:
        assert img.size[0] > 0
    rc, out, err = cli("triage", str(bad), str(plain(tmp_path / "plain.jpg")), "--json")
    assert rc == 0, err
    changed, unsigned = (json.loads(line) for line in out.strip().splitlines())
    assert changed["metadata"]["content_credentials"]["state"] == "invalid"
    html = (home / changed["derived"]["html_report"]).read_text()
    assert '<dt>As signed</dt><dd><img class="match-thumb" src="data:image/jpeg;base64,' in html
    assert "<dt>As signed</dt>" not in (home / unsigned["derived"]["html_report"]).read_text()
    assert signed_thumbnail(plain(tmp_path / "p2.jpg")) is None


@pytest.mark.parametrize("command", [["triage"], ["queue", "add"]])
def test_a_bad_anchors_setting_stops_before_any_file(
    tmp_path: Path,
    home: Path,
    cli: Callable[..., tuple[int, str, str]],
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
) -> None:
    monkeypatch.setenv("OSINT_VIDEO__PROBE__C2PA_TRUST_ANCHORS", str(tmp_path / "none.pem"))
    files = [plain(tmp_path / "a.jpg"), plain(tmp_path / "b.jpg")]
    rc, out, err = cli(*command, *map(str, files))
    assert rc != 0 and out == ""
    assert err.strip().splitlines() == [
        f"error: probe.c2pa_trust_anchors: cannot read {tmp_path / 'none.pem'}: "
        f"[Errno 2] No such file or directory: '{tmp_path / 'none.pem'}'"
    ]
    assert not (home / "evidence").exists()  # nothing was ingested
