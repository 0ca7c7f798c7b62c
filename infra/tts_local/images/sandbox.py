"""An image run as a Lambda execution environment: its own entry point, Lambda's sandbox user, the root
filesystem read-only, a tmpfs /tmp."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tts_local.images.inspection import image_config
from tts_local.images.runtime_api import RuntimeApi
from tts_local.images.store import buildah

# Lambda's sandbox user (sbx_user1051) and group.
LAMBDA_UID, LAMBDA_GID = 993, 990

# Inside a private mount and PID namespace: the image's root bind-mounted read-only, /proc, /dev, /sys and a
# tmpfs /tmp (Lambda's EphemeralStorage; 2048 MB as template.yaml gives the primary), then the command
# runs as Lambda's sandbox user from the image's working directory.
_SANDBOX = r"""
set -e
root=$1; tmp_mb=$2; workdir=$3; shift 3
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
mount --bind /sys "$root/sys" && mount -o remount,bind,ro "$root/sys"
mount -t tmpfs -o "size=${tmp_mb}m,mode=1777" tmpfs "$root/tmp"
mount -o remount,bind,ro "$root"
exec chroot --userspec=UID:GID "$root" /usr/bin/env -i -C "$workdir" "$@"
""".replace("UID:GID", f"{LAMBDA_UID}:{LAMBDA_GID}")


class LambdaContainer:
    """One image started as a Lambda execution environment, or a command run inside it."""

    def __init__(self, tag: str, env: dict[str, str] | None = None, tmp_mb: int = 2048) -> None:
        self.tag = tag
        self.env = env or {}
        self.tmp_mb = tmp_mb
        self.config = image_config(tag)["config"]
        self._ctr = ""
        self.root = Path()

    def __enter__(self) -> LambdaContainer:
        self._ctr = buildah("from", "--pull=never", self.tag)
        self.root = Path(buildah("mount", self._ctr))
        return self

    def __exit__(self, *exc: object) -> None:
        buildah("umount", self._ctr, check=False)
        buildah("rm", self._ctr, check=False)

    def environment(self, runtime_api: str | None = None) -> dict[str, str]:
        env = dict(item.split("=", 1) for item in self.config.get("Env", []))
        env |= {"LAMBDA_TASK_ROOT": self.config.get("WorkingDir") or "/var/task", "TZ": ":UTC",
                "AWS_LAMBDA_FUNCTION_NAME": "local", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "10240",
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}
        if runtime_api:
            env["AWS_LAMBDA_RUNTIME_API"] = runtime_api
        return env | self.env

    def command(self, argv: list[str] | None = None, runtime_api: str | None = None) -> list[str]:
        """The unshare/chroot command line; argv=None runs the image's own ENTRYPOINT + CMD."""
        if argv is None:
            argv = list(self.config.get("Entrypoint") or []) + list(self.config.get("Cmd") or [])
        env = [f"{k}={v}" for k, v in self.environment(runtime_api).items()]
        return ["unshare", "--mount", "--pid", "--fork", "--kill-child", "--", "sh", "-c", _SANDBOX, "sandbox",
                str(self.root), str(self.tmp_mb), self.config.get("WorkingDir") or "/", *env, *argv]

    def run(self, argv: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(argv), capture_output=True, text=True, timeout=timeout)

    @contextmanager
    def serving(self, runtime_api: RuntimeApi, log: Path) -> Iterator[subprocess.Popen[bytes]]:
        """The image's entry point, started against `runtime_api`; stopped on exit."""
        with log.open("wb") as out:
            # A session of its own: the function runs as another user, which clears the parent-death
            # signal unshare relies on, so the whole process group is killed instead.
            proc = subprocess.Popen(self.command(runtime_api=runtime_api.address), stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            try:
                yield proc
            finally:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
