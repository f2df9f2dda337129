"""Files with real Content Credentials, signed in the test by the C2PA reference library.

A throwaway certificate chain (root CA -> leaf with the C2PA certificate profile: digital
signature, e-mail protection EKU, not a CA) is made with `cryptography`; c2pa-python embeds
and signs the manifest. No shared media file carries a manifest, so these are generated.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import subprocess
from pathlib import Path

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
MIME = {".jpg": "image/jpeg", ".mp4": "video/mp4"}


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "osint-video tests"),
        ]
    )


def _usage(**on: bool) -> x509.KeyUsage:
    names = (
        "digital_signature content_commitment key_encipherment data_encipherment key_agreement "
        "key_cert_sign crl_sign encipher_only decipher_only"
    ).split()
    return x509.KeyUsage(**{n: on.get(n, False) for n in names})


def signer() -> c2pa.Signer:
    chain, private, _ca = _chain()
    return c2pa.Signer.from_info(c2pa.C2paSignerInfo(b"es256", chain, private, None))


def ca_pem() -> bytes:
    """The test root certificate (a trust anchor for `[probe] c2pa_trust_anchors`)."""
    return _chain()[2]


@functools.cache
def _chain() -> tuple[bytes, bytes, bytes]:
    """(leaf + root PEM, leaf key PEM, root PEM), made once per test process."""
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def cert(subject: str, issuer: str, public, extensions, sign_key):  # noqa: ANN001, ANN202
        b = (
            x509.CertificateBuilder()
            .subject_name(_name(subject))
            .issuer_name(_name(issuer))
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365))
        )
        for ext, critical in extensions:
            b = b.add_extension(ext, critical=critical)
        return b.sign(sign_key, hashes.SHA256())

    ca = cert(
        "Test Root CA",
        "Test Root CA",
        ca_key.public_key(),
        [
            (x509.BasicConstraints(ca=True, path_length=None), True),
            (_usage(key_cert_sign=True, crl_sign=True), True),
            (x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False),
        ],
        ca_key,
    )
    leaf = cert(
        "Test Camera",
        "Test Root CA",
        key.public_key(),
        [
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (_usage(digital_signature=True), True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False),
            (x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False),
            (x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False),
        ],
        ca_key,
    )
    pem = serialization.Encoding.PEM
    chain = leaf.public_bytes(pem) + ca.public_bytes(pem)
    private = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return chain, private, ca.public_bytes(pem)


def plain(out: Path) -> Path:
    """A small unsigned JPEG (one frame) or MP4 (2 s) by its suffix."""
    args = ["-frames:v", "1"] if out.suffix == ".jpg" else ["-t", "2", "-c:v", "libx264"]
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25",
         *args, "-pix_fmt", "yuvj420p" if out.suffix == ".jpg" else "yuv420p", str(out)],
        check=True, timeout=60,
    )  # fmt: skip
    return out


def signed(out: Path, source_type: str, agent: str, remote_url: str | None = None) -> Path:
    """`plain(out)` signed with one `c2pa.created` action of `source_type` by `agent`; with
    `remote_url`, the manifest is not embedded, only that URL to it is."""
    src = plain(out.with_name("unsigned-" + out.name))
    manifest = {
        "claim_generator_info": [{"name": "osint-video-tests", "version": "1"}],
        "title": out.name,
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": IPTC + source_type,
                            "softwareAgent": agent,
                        }
                    ]
                },
            }
        ],
    }
    with (
        signer() as s,
        c2pa.Builder(json.dumps(manifest)) as b,
        src.open("rb") as fin,
        out.open("w+b") as fout,
    ):
        if remote_url:
            b.set_no_embed()
            b.set_remote_url(remote_url)
        b.sign(s, MIME[out.suffix], fin, fout)
    src.unlink()
    return out


def edited(out: Path, parent: Path, agent: str) -> Path:
    """A JPEG signed as opened from `parent` (a signed JPEG, its ingredient) and colour-adjusted
    by `agent`: the parent's manifest travels inside this one's store."""
    src = plain(out.with_name("unsigned-" + out.name))
    actions = [
        {"action": "c2pa.opened", "parameters": {"ingredientIds": ["parent"]}},
        {"action": "c2pa.color_adjustments", "softwareAgent": agent},
    ]
    manifest = {
        "claim_generator_info": [{"name": "PhotoEditor", "version": "9"}],
        "title": out.name,
        "assertions": [{"label": "c2pa.actions", "data": {"actions": actions}}],
    }
    parent_info = {"title": parent.name, "relationship": "parentOf", "label": "parent"}
    with (
        signer() as s,
        c2pa.Builder(json.dumps(manifest)) as b,
        src.open("rb") as fin,
        out.open("w+b") as fout,
        parent.open("rb") as ingredient,
    ):
        b.add_ingredient(json.dumps(parent_info), MIME[parent.suffix], ingredient)
        b.sign(s, MIME[out.suffix], fin, fout)
    src.unlink()
    return out


def tampered(src: Path, out: Path) -> Path:
    """A copy of a signed file with one byte of its picture data changed after signing."""
    data = bytearray(src.read_bytes())
    at = data.find(b"mdat") + 4000 if src.suffix == ".mp4" else len(data) - 500
    data[at] ^= 0xFF
    out.write_bytes(bytes(data))
    return out
