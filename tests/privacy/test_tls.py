"""``--tls-cert/--tls-key``: both servers speak HTTPS (and the model server's gRPC port TLS)
with a certificate made here; a client that verifies against it gets through, one that does
not trust it is refused; the dashboard's cookies are Secure."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import modelyard as my
from modelyard.serving.testing import free_port

from .conftest import rows

MODELYARD = str(Path(sys.executable).parent / "modelyard")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key (PEM files)."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "modelyard test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _trusting(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


def _wait(url: str, path: str, verify: ssl.SSLContext, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else proc.returncode
        try:
            if httpx.get(f"{url}{path}", verify=verify, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{url}{path} did not answer"
        time.sleep(0.1)


def _start(*args: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    return subprocess.Popen([MODELYARD, *args], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        p.terminate()
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()


def test_modelyard_server_serves_https_and_the_dashboard_cookie_is_secure(
        loans_yard: my.Yard, certificate: tuple[Path, Path],
        processes: list[subprocess.Popen[bytes]]) -> None:
    cert, key = certificate
    port = free_port()
    processes.append(_start("--home", str(loans_yard.settings.home), "server", "--port",
                            str(port), "--auth", "--tls-cert", str(cert), "--tls-key", str(key),
                            "--log-level", "warning"))
    url = f"https://127.0.0.1:{port}"
    _wait(url, "/healthz", _trusting(cert), processes[0])
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{url}/healthz")  # the system's trust store does not know it
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/healthz")  # no plain HTTP on that port
    page = httpx.get(f"{url}/ui/login", verify=_trusting(cert))
    assert page.status_code == 200
    cookies = page.headers.get_list("set-cookie")
    assert cookies and all("Secure" in c and "HttpOnly" in c for c in cookies), cookies
    unauthorised = httpx.get(f"{url}/api/v1/datasets", verify=_trusting(cert))
    assert unauthorised.status_code == 401, unauthorised.text


def test_modelyard_serve_serves_https_and_grpc_over_tls(
        loans_yard: my.Yard, certificate: tuple[Path, Path],
        processes: list[subprocess.Popen[bytes]]) -> None:
    import grpc

    from modelyard.serving.grpc import grpc_predict_v2_pb2 as pb
    from modelyard.serving.grpc import grpc_predict_v2_pb2_grpc as pb_grpc

    cert, key = certificate
    port, grpc_port = free_port(), free_port()
    processes.append(_start("serve", "--model", "loans@production", "--home",
                            str(loans_yard.settings.home), "--port", str(port), "--grpc-port",
                            str(grpc_port), "--tls-cert", str(cert), "--tls-key", str(key),
                            "--log-level", "warning"))
    url = f"https://127.0.0.1:{port}"
    _wait(url, "/readyz", _trusting(cert), processes[0])
    r = httpx.post(f"{url}/predict/loans", json={"records": rows(2)}, verify=_trusting(cert))
    assert r.status_code == 200, r.text
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{url}/healthz")
    creds = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
    with grpc.secure_channel(f"127.0.0.1:{grpc_port}", creds) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        assert stub.ServerLive(pb.ServerLiveRequest(), timeout=30).live


def test_half_a_tls_pair_is_refused_before_anything_starts(
        certificate: tuple[Path, Path], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from modelyard.cli.main import app

    cert, _ = certificate
    out = CliRunner().invoke(app, ["--home", str(tmp_path), "server", "--tls-cert", str(cert)])
    assert out.exit_code != 0 and "--tls-cert and --tls-key go together" in out.output
    not_pem = tmp_path / "key.txt"
    not_pem.write_text("hello")
    out = CliRunner().invoke(app, ["--home", str(tmp_path), "serve", "--model", "x/1",
                                   "--tls-cert", str(cert), "--tls-key", str(not_pem)])
    assert out.exit_code != 0 and "is not a PEM file" in out.output
