"""Test certificate authorities (trustme): one the client trusts, one it must refuse."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class TestPKI:
    ca_file: Path  # the CA the connector is told to trust (``ca_file``)
    cert_file: Path  # server certificate + key, issued by that CA for 127.0.0.1/localhost
    key_file: Path
    rogue_cert_file: Path  # same names, issued by a CA nobody trusts
    rogue_key_file: Path
    rogue_ca_file: Path  # the CA that issued the rogue certificate


def make_pki(directory: Path, *names: str) -> TestPKI:
    names = names or ("127.0.0.1", "localhost", "127.0.0.2")
    good, rogue = trustme.CA(), trustme.CA()
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for label, ca in (("good", good), ("rogue", rogue)):
        cert = ca.issue_cert(*names)
        paths[f"{label}_cert"] = directory / f"{label}-cert.pem"
        paths[f"{label}_key"] = directory / f"{label}-key.pem"
        for blob in cert.cert_chain_pems:
            with paths[f"{label}_cert"].open("ab") as f:
                f.write(blob.bytes())
        cert.private_key_pem.write_to_path(str(paths[f"{label}_key"]))
    ca_file = directory / "ca.pem"
    good.cert_pem.write_to_path(str(ca_file))
    rogue.cert_pem.write_to_path(str(directory / "rogue-ca.pem"))
    for p in directory.iterdir():
        p.chmod(0o644)
    return TestPKI(
        ca_file=ca_file,
        cert_file=paths["good_cert"],
        key_file=paths["good_key"],
        rogue_cert_file=paths["rogue_cert"],
        rogue_key_file=paths["rogue_key"],
        rogue_ca_file=directory / "rogue-ca.pem",
    )
