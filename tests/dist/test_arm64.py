"""The arm64 packages of `make dist ARCH=arm64` (cross-built with Debian's gcc-aarch64-linux-gnu
and arm64 multiarch static libraries): layout, glibc 2.34, nothing but glibc needed, and the arm64
bootstrap serving the Runtime API emulator under qemu-aarch64-static (user-mode emulation, with
the arm64 glibc of Debian's multiarch libc6:arm64, found where the bootstrap asks for it:
/lib/ld-linux-aarch64.so.1). The happy path, a failing script and a timeout are
each reported exactly once, before the deadline, with every signature verified by the CodeDeploy
emulator.

Skipped, saying why, when the cross tools or qemu-user-static are missing (scripts/install-deps
installs them)."""
import fcntl
import os
import pathlib
import shutil
import subprocess
import zipfile

import pytest
from test_dist import GLIBC_MAX, GLIBC_SONAME, dynamic_section, glibc_requirements, unzip_all, version_tuple

ROOT = pathlib.Path(__file__).resolve().parents[2]
DIST = ROOT / "build" / "dist"
QEMU = shutil.which("qemu-aarch64-static")
# The arm64 loader of libc6:arm64 (multiarch), at the path the bootstrap names as interpreter, as
# on Amazon Linux. Not QEMU_LD_PREFIX=/usr/aarch64-linux-gnu (libc6-arm64-cross): with that
# prefix, qemu 7.2's forked children spin forever, in any dynamically linked program.
LOADER = pathlib.Path("/lib/ld-linux-aarch64.so.1")


@pytest.fixture(scope="session")
def arm64_dist():
    """build/dist/{function,layer}-arm64.zip, made by `make dist ARCH=arm64` (incremental)."""
    missing = [t for t in ("make", "aarch64-linux-gnu-gcc", "aarch64-linux-gnu-strip", "zip", "readelf")
               if not shutil.which(t)]
    if not (pathlib.Path("/usr/lib/aarch64-linux-gnu") / "libcrypto.a").exists():
        missing.append("libssl-dev:arm64")
    if missing:
        pytest.skip(f"make dist ARCH=arm64 is impossible here: {', '.join(missing)} missing (scripts/install-deps)")
    (ROOT / "build").mkdir(exist_ok=True)
    with open(ROOT / "build" / ".dist-arm64-test.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "SANITIZER")}
        r = subprocess.run(["make", "--no-print-directory", "dist", "ARCH=arm64"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=1800)
        assert r.returncode == 0, f"make dist ARCH=arm64 failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return DIST


def test_arm64_packages_are_lean_and_need_glibc_2_34_at_most(arm64_dist, tmp_path):
    for name in ("function-arm64.zip", "layer-arm64.zip"):
        with zipfile.ZipFile(arm64_dist / name) as z:
            names = z.namelist()
        assert "bootstrap" in names and not [n for n in names if n.startswith("lib/") or ".so" in n], names
        folder = unzip_all(arm64_dist / name, tmp_path / name)
        boot = folder / "bootstrap"
        head = subprocess.run(["readelf", "-h", "-l", str(boot)], capture_output=True, text=True, check=True).stdout
        assert "AArch64" in head and "[Requesting program interpreter: /lib/ld-linux-aarch64.so.1]" in head
        needed, rpath, runpath = dynamic_section(boot)
        assert needed and all(GLIBC_SONAME.match(n) for n in needed), needed
        assert rpath is None and runpath is None
        too_new = {v: s for v, s in glibc_requirements(boot).items() if version_tuple(v) > GLIBC_MAX}
        assert not too_new, f"{name}: needs glibc newer than 2.34: {too_new}"
    with zipfile.ZipFile(arm64_dist / "function-arm64.zip") as a, zipfile.ZipFile(arm64_dist / "layer-arm64.zip") as b:
        assert a.read("bootstrap") == b.read("bootstrap")
        assert all(n == "bootstrap" or n.startswith(("hooks/", "hookhost/")) for n in a.namelist())
        assert all(n == "bootstrap" or n.startswith("lua/hookhost/") for n in b.namelist() if n != "lua/")


HOOKS = {
    "Happy": 'return function(event, ctx) ctx.log.info("arm64 hook ran", {id = ctx.execution_id}) end\n',
    "Boom": 'return function() error("boom on arm64") end\n',
    "Loop": "return function() while true do end end\n",
}


@pytest.mark.parametrize("hook,status,reason", [("Happy", "Succeeded", None), ("Boom", "Failed", "boom on arm64"),
                                                ("Loop", "Failed", "timeout")])
def test_arm64_bootstrap_reports_once_under_qemu(arm64_dist, tmp_path, hook, status, reason):
    """Lambda's start of the arm64 function package, emulated: `bootstrap` with no arguments
    serves one CodeDeploy hook event; the report is the expected status, exactly once, before the
    deadline, signed correctly, and the invocation succeeds with the outcome as its answer."""
    if not QEMU:
        pytest.skip("qemu-aarch64-static is missing (Debian package qemu-user-static; scripts/install-deps)")
    if not LOADER.exists():
        pytest.skip(f"no arm64 glibc: {LOADER} is missing (Debian package libc6:arm64; scripts/install-deps)")
    from emulators import Emulators

    task = unzip_all(arm64_dist / "function-arm64.zip", tmp_path / "task")
    (task / "hooks" / f"{hook}.lua").write_text(HOOKS[hook])
    log_path = tmp_path / "serve.log"
    with Emulators.start() as emu:
        dep = emu.seed_deployment()
        ex = emu.seed_hook_execution(dep, "AfterAllowTraffic")
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LAMBDA_TASK_ROOT": str(task), "_HANDLER": hook,
               "AWS_REGION": "us-east-1", "AWS_LAMBDA_LOG_FORMAT": "Text", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
               "HOOKHOST_RESERVE_MS": "3000",
               **emu.env()}
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([QEMU, str(task / "bootstrap")], env=env, stdout=log, stderr=log,
                                    stdin=subprocess.DEVNULL)
        try:
            # Emulated (and on a loaded machine), everything is several times slower: the loop
            # meets a 12 s deadline, and the report gets a 3 s reserve, not 10% of that.
            rid = emu.queue_event({"DeploymentId": dep, "LifecycleEventHookExecutionId": ex},
                                  timeout=12 if hook == "Loop" else 60)
            outcome = emu.wait_outcome(rid, timeout=90)
            log_text = log_path.read_text(errors="replace")
            assert outcome is not None, f"no answer from the arm64 runtime; log:\n{log_text}"
            assert outcome["kind"] == "response" and outcome["before_deadline"], f"{outcome}\n{log_text}"
            reports = emu.reports(dep)
            assert [r["status"] for r in reports] == [status], log_text
            assert emu.signature_failures == 0
            if reason:
                assert reason in outcome["body"], outcome["body"]
            if hook == "Happy":
                assert "arm64 hook ran" in log_text
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
