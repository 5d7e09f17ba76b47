"""Shared fixtures: the gateway's URL and the client key, set by `cargo xtask e2e`."""

import os

import pytest


@pytest.fixture(scope="session")
def gateway() -> str:
    return os.environ["OMNIROUTE_URL"]


@pytest.fixture(scope="session")
def key() -> str:
    return os.environ.get("OMNIROUTE_KEY", "sk-e2e")
