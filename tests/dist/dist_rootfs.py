"""A minimal Debian root filesystem for the dist tests, made once and cached.

`debootstrap --variant=minbase bookworm` into /var/cache/hookhost-test/rootfs (override with
HOOKHOST_ROOTFS_CACHE). It holds glibc and Debian's base tools but none of hookhost's libraries
(no libcurl, no libexpat, no Lua). A flock on a file beside it keeps concurrent test runs from
building it twice; the build goes into a temporary folder renamed into place only when it is
complete, so a half-made root is never used.

Run directly (`python3 tests/dist/dist_rootfs.py`) to build the cache ahead of the tests.
"""
import fcntl
import os
import pathlib
import re
import shutil
import subprocess
import sys

CACHE = pathlib.Path(os.environ.get("HOOKHOST_ROOTFS_CACHE", "/var/cache/hookhost-test"))
ROOTFS = CACHE / "rootfs"
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# debootstrap's messages when it cannot reach the mirror (wget/ftp failures, DNS, refused).
NETWORK_ERRORS = ("Failed getting release file", "Couldn't download", "couldn't download",
                  "Temporary failure in name resolution", "Connection refused", "Network is unreachable",
                  "unable to resolve host", "Could not resolve", "Connection timed out")


class Unavailable(Exception):
    """The root filesystem cannot be made here (no debootstrap, not root, mirror out of reach).
    Any other debootstrap failure raises RuntimeError: a test error, not a skip."""


def apt_mirror():
    """The Debian mirror apt is configured with (deb822 .sources or one-line .list files)."""
    files = [pathlib.Path("/etc/apt/sources.list")]
    d = pathlib.Path("/etc/apt/sources.list.d")
    if d.is_dir():
        files += sorted(d.iterdir())
    for f in files:
        try:
            text = f.read_text()
        except OSError:
            continue
        if f.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
                suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
                if uris and suites and SUITE in suites.group(1).split() and "security" not in uris.group(1):
                    return uris.group(1).rstrip("/")
        else:
            for line in text.splitlines():
                m = re.match(r"\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)", line)
                if m and m.group(2) == SUITE and "security" not in m.group(1):
                    return m.group(1).rstrip("/")
    return DEFAULT_MIRROR


def ensure_rootfs():
    """Path of the cached root filesystem, built on first use. Raises Unavailable."""
    if (ROOTFS / "etc" / "debian_version").is_file():
        return ROOTFS
    if os.geteuid() != 0:
        raise Unavailable("debootstrap and chroot need root")
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not os.path.exists(debootstrap):
        raise Unavailable("debootstrap is not installed (Debian package debootstrap; scripts/install-deps)")
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "rootfs.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be building it: wait for it
        if (ROOTFS / "etc" / "debian_version").is_file():
            return ROOTFS
        tmp = CACHE / f"rootfs.tmp.{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        mirror = apt_mirror()
        r = subprocess.run([debootstrap, "--variant=minbase", SUITE, str(tmp), mirror],
                           capture_output=True, text=True, timeout=1800)
        if r.returncode != 0:
            _remove_tree(tmp)
            out = r.stdout + r.stderr
            tail = "\n".join(out.strip().splitlines()[-5:])
            msg = f"debootstrap --variant=minbase {SUITE} from {mirror} failed (exit {r.returncode}):\n{tail}"
            if any(s in out for s in NETWORK_ERRORS):
                raise Unavailable(msg)  # the mirror is out of reach: a skip, not a failure
            raise RuntimeError(msg)
        os.rename(tmp, ROOTFS)
    return ROOTFS


def _remove_tree(path):
    """Remove a failed debootstrap target, refusing to follow anything mounted inside it."""
    with open("/proc/self/mounts") as f:
        mounted = [line.split()[1] for line in f]
    if any(m == str(path) or m.startswith(str(path) + "/") for m in mounted):
        return  # leave it rather than delete through a mount
    shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    try:
        print(ensure_rootfs())
    except Unavailable as e:
        print(f"rootfs: {e}", file=sys.stderr)
        sys.exit(1)
