"""`mnwd.ota.minisign` against the real minisign, both ways, prehashed (``ED``) and legacy (``Ed``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mnwd.ota import minisign

DATA = b"an installer " * 10_000


def test_our_signatures_verify_with_minisign(tmp_path: Path) -> None:
    key = minisign.generate_key()
    (tmp_path / "f").write_bytes(DATA)
    (tmp_path / "f.sig").write_text(key.sign(DATA, "timestamp:1\tfile:f\tversion:1.2.3"))
    public = key.public_key_text().splitlines()[1]
    done = subprocess.run(
        ["minisign", "-V", "-P", public, "-m", tmp_path / "f", "-x", tmp_path / "f.sig"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "version:1.2.3" in done.stdout
    # Sealed and unsealed, the key signs the same.
    again = minisign.SigningKey.unseal(key.seal())
    assert again.public_key_text() == key.public_key_text()
    with pytest.raises(ValueError, match="one line"):
        key.sign(DATA, "two\nlines")


@pytest.mark.parametrize("legacy", [False, True])
def test_minisign_signatures_verify_here_and_tampering_is_caught(tmp_path: Path, legacy: bool) -> None:
    subprocess.run(
        ["minisign", "-G", "-W", "-p", tmp_path / "k.pub", "-s", tmp_path / "k.key"], check=True, capture_output=True
    )
    (tmp_path / "f").write_bytes(DATA)
    subprocess.run(
        ["minisign", "-S", "-W", *(["-l"] if legacy else []), "-s", tmp_path / "k.key", "-m", tmp_path / "f"],
        check=True,
        capture_output=True,
    )
    sig = (tmp_path / "f.minisig").read_text()
    public = (tmp_path / "k.pub").read_text()
    assert minisign.is_prehashed(sig) is not legacy
    minisign.verify(sig, DATA, public)
    minisign.verify(sig, DATA if legacy else b"", public, digest=minisign.prehash(DATA))
    with pytest.raises(minisign.SignatureInvalid, match="bytes"):
        minisign.verify(sig, DATA + b"!", public)
    lines = sig.splitlines()
    tampered = "\n".join([lines[0], lines[1], lines[2] + "x", lines[3]]) + "\n"
    with pytest.raises(minisign.SignatureInvalid, match="trusted comment"):
        minisign.verify(tampered, DATA, public)
    with pytest.raises(minisign.SignatureInvalid, match="not the app's key"):
        minisign.verify(sig, DATA, minisign.generate_key().public_key_text())
    for bad in (
        "",
        "one line",
        "a\nb\nc\nd\ne\nf",
        "\n".join(["untrusted comment: x", "!!", "trusted comment: y", "z"]),
    ):
        with pytest.raises(minisign.SignatureInvalid):
            minisign.verify(bad, DATA, public)
