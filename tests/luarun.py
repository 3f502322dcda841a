"""Run a Lua hook script through `hookhost run` and read its outcome: the one helper the suites
share (tests/conftest.py's `run_lua` fixture; tests/e2e and tests/models import `outcome`)."""
import json
import os
import time

from emulators import DEFAULT_SECRET_KEY


def outcome(proc):
    """The outcome line `hookhost run` prints last on stdout, decoded."""
    lines = [l for l in proc.stdout.splitlines() if l.strip()]
    assert lines, f"no outcome on stdout; stderr:\n{proc.stderr}"
    return json.loads(lines[-1])


class LuaRun:
    """One `hookhost run`: proc (CompletedProcess, text), seconds (wall time) and outcome (the
    last stdout line decoded, read when asked: a run that prints none fails the test there)."""

    def __init__(self, proc, seconds):
        self.proc = proc
        self.seconds = seconds

    @property
    def outcome(self):
        return outcome(self.proc)


class LuaRunner:
    """run_lua(text, *args, event=None, env=None) writes text as a new script (hook<n>.lua) and
    event (default {}) as event<n>.json in the test's scratch folder and runs
    `hookhost run --event <file> *args <script>` with env added to a clean environment;
    run_lua.script(path, ...) runs an existing script the same way. Never shows the emulators'
    secret key on stdout or stderr (asserted)."""

    def __init__(self, hookhost, write):
        self._hookhost = hookhost
        self._write = write
        self._n = 0

    def __call__(self, text, *args, event=None, env=None):
        self._n += 1
        path = self._write(f"hook{self._n}.lua", text)
        return self._run(path, args, event, env)

    def script(self, path, *args, event=None, env=None):
        self._n += 1
        return self._run(path, args, event, env)

    def _run(self, path, args, event, env):
        ev = self._write(f"event{self._n}.json", json.dumps(event or {}))
        t0 = time.monotonic()
        p = self._hookhost("run", "--event", ev, *args, os.fspath(path), env=env or {})
        seconds = time.monotonic() - t0
        assert DEFAULT_SECRET_KEY not in p.stdout + p.stderr
        return LuaRun(p, seconds)
