"""``outlast serve --grpc-cert --grpc-key``: both gRPC ports over TLS, with a
self-signed certificate made here (openssl). The durabletask SDK runs a workflow
over a secure channel that trusts it; a plain-text client is refused."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from google.protobuf import empty_pb2

import grpc
from tests.grpc.conftest import DurableTaskApp, free_port
from tests.http.test_serve import outlast_command, outlast_serve

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def _self_signed(where: Path) -> tuple[Path, Path]:
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def _hello(channel: grpc.Channel) -> None:
    call = channel.unary_unary(
        "/TaskHubSidecarService/Hello",
        request_serializer=empty_pb2.Empty.SerializeToString,
        response_deserializer=empty_pb2.Empty.FromString,
    )
    call(empty_pb2.Empty(), timeout=10)


def test_both_grpc_ports_serve_tls(store_url: str, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    dapr, dt = free_port(), free_port()
    args = ["--store", store_url, "--grpc-port", str(dapr), "--durabletask-port", str(dt)]
    args += ["--grpc-cert", str(cert), "--grpc-key", str(key)]
    with outlast_serve(args, tmp_path) as (proc, _url):
        assert f"127.0.0.1:{dt} (durabletask SDKs) over TLS" in proc.banner
        app = DurableTaskApp(dt, tls_roots=cert)
        try:
            iid = app.call("schedule_new_orchestration", "chain")
            state = app.call("wait_for_orchestration_completion", iid, timeout=60)
            assert state["runtime_status"] == "COMPLETED", state["failure_details"]
            assert state["serialized_output"].startswith('["Hello Tokyo!"')  # the SDK ran it
        finally:
            app.close()
        creds = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        with grpc.secure_channel(f"localhost:{dapr}", creds) as secure:
            _hello(secure)
        with grpc.insecure_channel(f"127.0.0.1:{dapr}") as plain, pytest.raises(grpc.RpcError):
            _hello(plain)


def test_a_certificate_without_its_key_is_a_usage_error(tmp_path: Path) -> None:
    cert, _key = _self_signed(tmp_path)
    done = subprocess.run(
        [*outlast_command(), "serve", "--port", "0", "--grpc-cert", str(cert)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "--grpc-cert and --grpc-key go together" in done.stderr, done.stderr
