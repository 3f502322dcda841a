"""Fixtures of the end-to-end tests."""
import pytest

from runtime import OK, Runtime


@pytest.fixture
def rt(hookhost_bin, tmp_path):
    """hookhost serve against the emulators, with an AfterAllowTraffic hook that succeeds."""
    r = Runtime(hookhost_bin, tmp_path / "task")
    r.hook("AfterAllowTraffic", OK)
    yield r
    r.stop()
