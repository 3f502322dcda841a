"""Fixtures for the emulators' own tests: a running Emulators and botocore clients."""

import pytest

from emulators import Emulators
from emulators.clients import client


@pytest.fixture
def emu():
    e = Emulators.start(invalidation_seconds=0.3)
    yield e
    e.stop()


@pytest.fixture
def cf(emu):
    return client(emu, "cloudfront")


@pytest.fixture
def cd(emu):
    return client(emu, "codedeploy")
