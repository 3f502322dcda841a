"""A throw-away Lambda-like root: the cached Debian minbase root under an overlay, /proc mounted.

The cached root filesystem (dist_rootfs.py) stays untouched: each sandbox is an overlayfs whose
upper layer lives in the test's temporary folder, so packages unzipped to /var/task or /opt and
hook scripts written there vanish with it. When the kernel refuses an overlay, the root is
copied instead (slower, same result). Everything mounted here is unmounted in `close()`, in
reverse order, and nothing outside the sandbox folder is touched.
"""
import os
import pathlib
import shutil
import subprocess
import zipfile

# Resolved with the host's PATH: the sandbox's environment (PATH included) is for the chroot.
CHROOT = shutil.which("chroot") or "/usr/sbin/chroot"

# What Lambda sets for provided.al2023 functions: the loader searches these before DT_RUNPATH
# (but after DT_RPATH), so the sandbox uses it too. /usr/lib/x86_64-linux-gnu is added in front
# so that the Debian root's own libgnutls, libzstd, ... would win if the bundled libraries'
# run path were not searched first.
LAMBDA_LD_LIBRARY_PATH = ("/usr/lib/x86_64-linux-gnu:/var/lang/lib:/lib64:/usr/lib64:/var/runtime:"
                          "/var/runtime/lib:/var/task:/var/task/lib:/opt/lib")


class Sandbox:
    def __init__(self, rootfs, workdir):
        self.rootfs = pathlib.Path(rootfs) if rootfs else None
        self.workdir = pathlib.Path(workdir)
        self.root = None
        self._mounts = []  # mounted paths, unmounted in reverse order

    def __enter__(self):
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def open(self):
        upper, work, merged = (self.workdir / n for n in ("upper", "work", "root"))
        for d in (upper, work, merged):
            d.mkdir(parents=True)
        r = subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                            f"lowerdir={self.rootfs},upperdir={upper},workdir={work}", str(merged)],
                           capture_output=True, text=True)
        if r.returncode == 0:
            self._mounts.append(merged)
        else:  # no overlayfs here: a private copy of the root
            subprocess.run(["cp", "-a", f"{self.rootfs}/.", str(merged)], check=True)
        self.root = merged
        proc = merged / "proc"
        r = subprocess.run(["mount", "-t", "proc", "proc", str(proc)], capture_output=True, text=True)
        if r.returncode != 0:
            subprocess.run(["mount", "--bind", "/proc", str(proc)], check=True)
        self._mounts.append(proc)

    def close(self):
        while self._mounts:
            m = self._mounts.pop()
            if subprocess.run(["umount", str(m)], capture_output=True).returncode != 0:
                # Busy (a process still running inside): detach it so nothing stays mounted.
                subprocess.run(["umount", "-l", str(m)], capture_output=True)

    # ---- content ----
    def path(self, inside):
        """Host path of an absolute path inside the sandbox."""
        return self.root / str(inside).lstrip("/")

    def unzip(self, zip_path, inside):
        """Unzip a package to a folder inside the sandbox, keeping the zip's file modes."""
        dest = self.path(inside)
        dest.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(zip_path) as z:
            for info in z.infolist():
                target = dest / info.filename
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with z.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
                mode = (info.external_attr >> 16) & 0o7777
                if mode:
                    os.chmod(target, mode)
        return dest

    def write(self, inside, text):
        p = self.path(inside)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        return p

    # ---- processes ----
    def env(self, **extra):
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": "UTC",
               "LD_LIBRARY_PATH": LAMBDA_LD_LIBRARY_PATH, "LAMBDA_TASK_ROOT": "/var/task",
               "AWS_REGION": "us-east-1"}
        env.update({k: str(v) for k, v in extra.items()})
        return env

    # Lambda runs the runtime as an unprivileged user (sbx_user1051); so does the sandbox, which
    # also shows that the packages' file modes let any user read and execute them.
    USER = "65534:65534"

    def run(self, argv, env=None, timeout=60, input=None):
        return subprocess.run([CHROOT, f"--userspec={self.USER}", str(self.root), *argv],
                              env=env or self.env(), capture_output=True, text=True, timeout=timeout,
                              input=input)

    def popen(self, argv, env=None, **kw):
        return subprocess.Popen([CHROOT, f"--userspec={self.USER}", str(self.root), *argv],
                                env=env or self.env(), **kw)


class MinimalRoot(Sandbox):
    """A root that holds nothing but glibc's loader and libc, libm and libresolv (from this
    machine, laid out as on Amazon Linux: /usr/lib64, with /lib64 a link to it), /proc, and
    whatever a test writes into it (the package, a CA bundle). No shell, no /etc, no /dev: what
    the lean bootstrap needs from a Lambda image and not one file more."""

    GLIBC = ("libc.so.6", "libm.so.6", "libresolv.so.2")
    LOADER = "ld-linux-x86-64.so.2"

    def __init__(self, workdir):
        super().__init__(None, workdir)

    def open(self):
        root = self.workdir / "root"
        lib64 = root / "usr" / "lib64"
        lib64.mkdir(parents=True)
        (root / "lib64").symlink_to("usr/lib64")
        host = pathlib.Path("/lib/x86_64-linux-gnu")
        for name in (self.LOADER, *self.GLIBC):
            shutil.copy2(os.path.realpath(host / name), lib64 / name)
        (root / "proc").mkdir()
        self.root = root
        r = subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")], capture_output=True, text=True)
        if r.returncode != 0:
            subprocess.run(["mount", "--bind", "/proc", str(root / "proc")], check=True)
        self._mounts.append(root / "proc")

    def files(self):
        """Every file and symbolic link in the root, /proc left out, as paths inside it."""
        found = []
        for top, dirs, files in os.walk(self.root):
            if pathlib.Path(top) == self.root:
                dirs.remove("proc")
            for n in files + [d for d in dirs if os.path.islink(os.path.join(top, d))]:
                found.append("/" + os.path.relpath(os.path.join(top, n), self.root))
        return sorted(found)
