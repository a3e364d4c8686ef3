"""Starts and stops the six services as local processes (`make run`, tests, benchmarks), and gives a run
of them ports and consumer groups of its own."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
from confluent_kafka import Consumer, TopicPartition
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ragline.config import DEFAULT_PORTS, kafka_client_settings, repo_root
from ragline.rpc import channel

# Order matters only for readiness: services called by others come first.
SERVICES = ("guardrail", "embedding", "audit", "retrieval", "ingest", "generation")

# Below Linux's ephemeral range (32768-60999): milvus-lite binds its own gRPC server to port 0 inside
# retrieval, and gRPC's SO_REUSEPORT would let it share a port picked with bind(0) instead of failing.
_FREE_PORTS = range(20000, 32000)


def free_port() -> int:
    """A loopback port nothing listens on now, for a service of a local run."""
    while True:
        port = random.randrange(_FREE_PORTS.start, _FREE_PORTS.stop)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def free_addresses() -> dict[str, str]:
    """RAGLINE_<SERVICE>_PORT and RAGLINE_<SERVICE>_ADDR of all six services on free loopback ports, so that
    a run (a test, a benchmark) works beside another one on the same machine."""
    env = {}
    for name in SERVICES:
        port = free_port()
        env[f"RAGLINE_{name.upper()}_PORT"] = str(port)
        env[f"RAGLINE_{name.upper()}_ADDR"] = f"127.0.0.1:{port}"
    return env


def end_offsets(topic: str) -> list[TopicPartition]:
    """Where each partition of `topic` ends now: read from there to see only what is published later."""
    consumer = Consumer({**kafka_client_settings(), "group.id": f"ragline-offsets-{os.getpid()}"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return [
            TopicPartition(topic, p, consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1])
            for p in partitions
        ]
    finally:
        consumer.close()


def start_group_at_end(group: str, topic: str) -> None:
    """Commit the topic's current end for a new consumer group, so that a service joining it starts with
    what is published from now on, not with the history earlier runs left on the broker."""
    consumer = Consumer({**kafka_client_settings(), "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=end_offsets(topic), asynchronous=False)
    finally:
        consumer.close()


class ServiceLauncher:
    def __init__(self, run_dir: Path, env: dict[str, str] | None = None):
        self.run_dir = run_dir
        self.run_dir.mkdir(parents=True, exist_ok=True)
        root = repo_root()
        self.env = {**os.environ, **(env or {})}
        self.env["PYTHONPATH"] = os.pathsep.join([str(root), str(root / "libs")])
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        # milvus-lite (retrieval's default index) scans its whole in-memory table,
        # vectors included, on every query; with its 128 MiB default, indexing
        # slows from 25 ms to 550 ms per document by 1,500 documents.
        self.env.setdefault("MILVUS_LITE_MEMTABLE_MEMORY_LIMIT_BYTES", str(1 << 20))
        # The processes this launcher started: only for them is the exit status known.
        self._children: dict[str, subprocess.Popen] = {}

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.log"

    def port(self, name: str) -> int:
        return int(self.env.get(f"RAGLINE_{name.upper()}_PORT", DEFAULT_PORTS[name]))

    def pid(self, name: str) -> int | None:
        if (child := self._children.get(name)) is not None:
            return child.pid if child.poll() is None else None
        try:
            pid = int(self.pid_file(name).read_text())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _alive(pid) else None

    def start(self, name: str) -> int:
        if (pid := self.pid(name)) is not None:
            return pid
        with open(self.log_file(name), "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", f"services.{name}"],
                cwd=repo_root(),
                env={**self.env, "OTEL_SERVICE_NAME": name},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_file(name).write_text(str(process.pid))
        self._children[name] = process
        return process.pid

    def wait_ready(self, name: str, timeout: float = 120.0) -> None:
        """Wait until the service answers SERVING on gRPC health; fail with its log tail."""
        deadline = time.monotonic() + timeout
        with channel(f"127.0.0.1:{self.port(name)}") as health_channel:
            stub = health_pb2_grpc.HealthStub(health_channel)
            while time.monotonic() < deadline:
                if self.pid(name) is None:
                    break
                try:
                    status = stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0).status
                    if status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.3)
        tail = self.log_file(name).read_text(errors="replace")[-3000:] if self.log_file(name).exists() else ""
        raise RuntimeError(f"{name} did not become ready within {timeout:.0f}s. Log tail:\n{tail}")

    def stop(self, name: str, timeout: float = 20.0, sig: int = signal.SIGTERM) -> int | None:
        """Send `sig`, SIGKILL after `timeout` s; the exit status if this launcher started the process."""
        if (child := self._children.pop(name, None)) is not None:
            if child.poll() is None:
                child.send_signal(sig)
                try:
                    child.wait(timeout)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
            self.pid_file(name).unlink(missing_ok=True)
            return child.returncode
        pid = self.pid(name)
        if pid is None:
            self.pid_file(name).unlink(missing_ok=True)
            return None
        os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.05)
        self.pid_file(name).unlink(missing_ok=True)
        return None

    def start_all(self, timeout: float = 120.0) -> None:
        for name in SERVICES:
            self.start(name)
        for name in SERVICES:
            self.wait_ready(name, timeout)

    def stop_all(self) -> None:
        for name in reversed(SERVICES):
            self.stop(name)


def _alive(pid: int) -> bool:
    """True while the process runs; a dead child is reaped, and a zombie that
    init has not reaped yet counts as dead."""
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
        if finished == pid:
            return False
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
