"""Mutual TLS between services: a server started by `serve()` with
RAGLINE_TLS_* accepts only clients whose certificate chains to the CA, and
still wants a bearer token from them. The CA and certificates are made here."""

from __future__ import annotations

import datetime
import ipaddress
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ragline.auth import TokenMinter, TokenSettings, init_keys
from ragline.cli.launcher import free_port
from ragline.config import ConfigError, repo_root
from ragline.rpc import TlsFiles, channel

pytestmark = pytest.mark.integration

# A service whose only method answers with the caller's subject, run by the real serve().
PROBE_SERVICE = """
import sys, grpc
from ragline.auth import current_principal
from ragline.rpc import serve

def register(server):
    who = grpc.unary_unary_rpc_method_handler(lambda request, context: current_principal.get().subject.encode())
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("ragline.test.Probe", {"Who": who}),))
    return ["ragline.test.Probe"]

serve("guardrail", int(sys.argv[1]), register)
"""


def name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return path


def certificate_authority(folder: Path, common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(common_name))
        .issuer_name(name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(key, hashes.SHA256())
    )
    (folder / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def leaf(folder: Path, ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate], common_name: str) -> TlsFiles:
    """A certificate for a service, good as server and as client, for loopback."""
    ca_key, ca_cert = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (folder / f"{common_name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return TlsFiles(folder / f"{common_name}.pem", write_key(key, folder / f"{common_name}.key"), folder / "ca.pem")


def tls_env(files: TlsFiles) -> dict[str, str]:
    return {"RAGLINE_TLS_CERT": str(files.cert), "RAGLINE_TLS_KEY": str(files.key), "RAGLINE_TLS_CA": str(files.ca)}


class Pki:
    def __init__(self, root: Path):
        (root / "ours").mkdir()
        (root / "stranger").mkdir()
        ours = certificate_authority(root / "ours", "ragline-test-ca")
        self.server = leaf(root / "ours", ours, "guardrail")
        self.client = leaf(root / "ours", ours, "generation")
        self.stranger = leaf(root / "stranger", certificate_authority(root / "stranger", "another-ca"), "generation")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def server(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, TokenSettings]]:
    data = tmp_path_factory.mktemp("data")
    settings = TokenSettings("https://ragline.local/dev-issuer", "ragline", data / "keys" / "jwks.json", data / "keys" / "signing-key.pem", 900, 30)
    init_keys(settings)
    port = free_port()
    root = repo_root()
    env = {
        **os.environ,
        **tls_env(pki.server),
        "RAGLINE_DATA_DIR": str(data),
        "PYTHONPATH": os.pathsep.join([str(root), str(root / "libs")]),
    }
    log = data / "probe.log"
    with log.open("wb") as output:
        process = subprocess.Popen([sys.executable, "-c", PROBE_SERVICE, str(port)], env=env, cwd=root, stderr=output)
    address = f"127.0.0.1:{port}"
    try:
        wait_serving(address, pki.client, process, log)
        yield address, settings
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def wait_serving(address: str, client: TlsFiles, process: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    with grpc.secure_channel(address, client.channel_credentials()) as probe:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if health_pb2_grpc.HealthStub(probe).Check(health_pb2.HealthCheckRequest(), timeout=1).status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                time.sleep(0.2)
    raise RuntimeError(f"probe service not serving within {timeout:.0f}s:\n{log.read_text(errors='replace')[-3000:]}")


def who(grpc_channel: grpc.Channel, token: str | None) -> str:
    metadata = [("authorization", f"Bearer {token}")] if token else None
    return grpc_channel.unary_unary("/ragline.test.Probe/Who")(b"", metadata=metadata, timeout=5).decode()


def test_a_client_with_a_certificate_of_the_ca_and_a_token_is_served(server, pki, monkeypatch):
    address, settings = server
    for variable, value in tls_env(pki.client).items():
        monkeypatch.setenv(variable, value)
    with channel(address) as grpc_channel:
        assert who(grpc_channel, TokenMinter(settings).mint("alice", "acme")) == "alice"
        with pytest.raises(grpc.RpcError) as raised:
            who(grpc_channel, None)
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param(lambda pki: grpc.ssl_channel_credentials(pki.server.ca.read_bytes()), id="no client certificate"),
        pytest.param(lambda pki: pki.stranger.channel_credentials(), id="certificate of another CA"),
        pytest.param(None, id="plaintext"),
    ],
)
def test_other_clients_are_refused_before_any_call(server, pki, credentials):
    address, settings = server
    token = TokenMinter(settings).mint("alice", "acme")
    grpc_channel = grpc.secure_channel(address, credentials(pki)) if credentials else grpc.insecure_channel(address)
    with grpc_channel, pytest.raises(grpc.RpcError) as raised:
        who(grpc_channel, token)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_partial_tls_configuration_stops_the_service(monkeypatch, pki):
    monkeypatch.setenv("RAGLINE_TLS_CERT", str(pki.client.cert))
    monkeypatch.delenv("RAGLINE_TLS_KEY", raising=False)
    monkeypatch.delenv("RAGLINE_TLS_CA", raising=False)
    with pytest.raises(ConfigError, match="missing RAGLINE_TLS_KEY, RAGLINE_TLS_CA"):
        TlsFiles.from_env()
