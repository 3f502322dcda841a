"""Shared pytest fixtures: the built binary and a scratch folder for hook scripts."""
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # import emulators


@pytest.fixture(scope="session")
def hookhost_bin():
    path = pathlib.Path(os.environ.get("HOOKHOST_BIN", ROOT / "build" / "hookhost"))
    if not path.exists():
        pytest.fail(f"{path} is missing: run make first (make test does)")
    return str(path)


@pytest.fixture
def hookhost(hookhost_bin, tmp_path):
    """Run the binary; returns CompletedProcess with text output. Never hangs: 60 s cap."""

    def run(*args, env=None, input=None, timeout=60):
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HOOKHOST_", "_HANDLER", "LAMBDA_"))}
        full_env.update(env or {})
        return subprocess.run([hookhost_bin, *args], capture_output=True, text=True,
                              env=full_env, input=input, timeout=timeout, cwd=tmp_path)

    return run


@pytest.fixture
def write(tmp_path):
    """write("name.lua", text) -> absolute path in the test's scratch folder."""

    def w(name, text):
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        return str(p)

    return w


@pytest.fixture
def run_lua(hookhost, write):
    """run_lua(text, *args, event=None, env=None) -> LuaRun (proc, outcome, seconds): the script
    text through `hookhost run` (tests/luarun.py); run_lua.script(path, ...) for a script file."""
    from luarun import LuaRunner

    return LuaRunner(hookhost, write)
