"""HTTPS to a host name served by the local Ingress controller, as `curl --resolve` does:
the connection goes to the controller on loopback, SNI and Host name the stack's host, and
the certificate is checked against the one CA given (never skipped)."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from djangostack_devcluster import topology


class IngressConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, ca_pem: str, timeout: float = 10) -> None:
        context = ssl.create_default_context(cadata=ca_pem)
        super().__init__(host, topology.INGRESS_HTTPS_PORT, timeout=timeout, context=context)

    def connect(self) -> None:
        raw = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class IngressClient:
    """Requests to https://<host>:<Ingress port>; a fresh connection per request."""

    host: str
    ca_pem: str
    token: str = ""

    @classmethod
    def trusting(cls, host: str, ca_file: Path) -> IngressClient:
        return cls(host, ca_file.read_text())

    def with_token(self, token: str) -> IngressClient:
        return IngressClient(self.host, self.ca_pem, token)

    @property
    def url(self) -> str:
        return f"https://{self.host}:{topology.INGRESS_HTTPS_PORT}"

    def request(self, method: str, path: str, body: Any = None, timeout: float = 10) -> Reply:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        connection = IngressConnection(self.host, self.ca_pem, timeout)
        try:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            return Reply(response.status, dict(response.getheaders()), response.read())
        finally:
            connection.close()

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def status(self, path: str) -> int:
        """The status of GET `path`; 0 when nothing answers (or TLS fails)."""
        try:
            return self.get(path).status
        except (OSError, ssl.SSLError, http.client.HTTPException):
            return 0
