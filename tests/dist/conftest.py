"""Fixtures of the packaging tests: the zips of `make dist`, the cached Debian root, sandboxes."""
import fcntl
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import dist_rootfs  # noqa: E402
from dist_sandbox import Sandbox  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
DIST = ROOT / "build" / "dist"
ZIPS = ("function.zip", "layer.zip", "hooks-only.zip")


def _inputs_mtime():
    """Newest modification time of what the zips are made from."""
    paths = [ROOT / "build" / "hookhost", ROOT / "scripts" / "package",
             ROOT / "deploy" / "compat" / "arc4random_buf.c"]
    for d in (ROOT / "lua" / "hooks", ROOT / "lua" / "hookhost"):
        paths += [d, *d.rglob("*")]
    return max((p.stat().st_mtime for p in paths if p.exists()), default=0)


@pytest.fixture(scope="session")
def dist():
    """build/dist with the three zips, made by `make dist` when missing or older than their inputs.

    Skips only when the build cannot run here (no make, cc, zip or readelf); a failing `make dist`
    (the glibc check, say) does not hide the zips it wrote: the tests then show why."""
    missing = [t for t in ("make", "cc", "zip", "readelf") if not shutil.which(t)]
    if missing:
        pytest.skip(f"make dist is impossible here: {', '.join(missing)} missing (scripts/install-deps)")
    DIST.parent.mkdir(parents=True, exist_ok=True)
    with open(ROOT / "build" / ".dist-test.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent runs build once
        zips = [DIST / z for z in ZIPS]
        stale = any(not z.exists() for z in zips) or min(z.stat().st_mtime for z in zips) < _inputs_mtime()
        if stale:
            # A clean environment for make: `make check` exports SANITIZER through MAKEFLAGS,
            # which would build build/san while scripts/package packages build/hookhost.
            env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "SANITIZER")}
            r = subprocess.run(["make", "--no-print-directory", "dist"], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=1800)
            print(r.stdout[-4000:], r.stderr[-4000:])
            if any(not z.exists() for z in zips):
                pytest.fail(f"make dist failed (exit {r.returncode}) and wrote no packages:\n"
                            f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return DIST


@pytest.fixture(scope="session")
def rootfs():
    """The cached Debian bookworm minbase root (built on first use, several minutes)."""
    if os.geteuid() != 0:
        pytest.skip("the chroot tests need root (mount, chroot)")
    if not shutil.which("chroot") or not shutil.which("mount"):
        pytest.skip("chroot or mount is missing")
    try:
        return dist_rootfs.ensure_rootfs()
    except dist_rootfs.Unavailable as e:
        pytest.skip(f"no minimal root filesystem: {e}")


@pytest.fixture
def sandbox(rootfs, tmp_path):
    with Sandbox(rootfs, tmp_path / "sandbox") as box:
        yield box
