"""Where the official SigV4 conformance suite is, for the tests built on it.

The suite is not part of the repository: it is found at $SIGV4_SUITE, else in
../shared/sigv4-test-suite/v4 beside the clone. Tests built on it are reported as skipped, with
REASON, when it is in neither place; every other test stands on the clone alone (the botocore
differential tests remain the self-contained proof of the signer)."""
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
REASON = ("the SigV4 conformance suite was not found (set SIGV4_SUITE to its v4 folder, "
          "or put shared/sigv4-test-suite beside the clone)")


def path():
    """The suite's v4 folder, or None."""
    env = os.environ.get("SIGV4_SUITE")
    p = pathlib.Path(env) if env else ROOT.parent / "shared" / "sigv4-test-suite" / "v4"
    return p if p.is_dir() else None


def params(cases, nargs):
    """parametrize() values: the cases, or one placeholder of nargs values that skips, saying why."""
    if cases:
        return cases
    return [pytest.param(*([None] * nargs), marks=pytest.mark.skip(reason=REASON), id="no-suite")]
