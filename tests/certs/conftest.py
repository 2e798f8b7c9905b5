"""Fixtures for ``certs`` tests: the deterministic test PKI and an SMKI hierarchy made by the openssl CLI."""

from __future__ import annotations

import shutil

import pytest
from certs_testlib import RIGHT_NO, OpenSSL, OpensslPki, org_subject

from certs.testpki import TestPki, make_test_pki


@pytest.fixture(scope="session")
def pki() -> TestPki:
    return make_test_pki()


@pytest.fixture(scope="session")
def openssl_pki(tmp_path_factory: pytest.TempPathFactory) -> OpensslPki:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl CLI is not installed")
    tool = OpenSSL(tmp_path_factory.mktemp("openssl"))
    root = tool.root()
    ca = tool.issue("ca", root, subject=org_subject("TEST-ONLY openssl CA", "07", "90:b3:d5:1f:30:00:00:09"),
                    profile="ca")
    supplier = tool.issue("supplier-ds", ca, subject=org_subject("TEST-ONLY Supplier", "02",
                                                                 "90:b3:d5:1f:30:01:00:01"), profile="org_ds")
    no_ka = tool.issue("no-ka", ca, subject=org_subject("TEST-ONLY NO", "03", RIGHT_NO), profile="org_ka")
    device = tool.issue("device", ca, subject="/", profile="device", end="99991231235959Z")
    return OpensslPki(tool, root, ca, supplier, no_ka, device)
