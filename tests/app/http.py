"""A tiny HTTP client for the app tests: no redirects followed, JSON in and out.

Requests carry the Host and X-Forwarded-Proto headers the Ingress would send, so the app is
exercised exactly as behind it (ALLOWED_HOSTS, HTTPS redirect, secure cookies).
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass, field
from typing import Any

HOST = "shop.example.com"
INGRESS_HEADERS = {"Host": HOST, "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


@dataclass
class Client:
    port: int
    headers: dict[str, str] = field(default_factory=lambda: dict(INGRESS_HEADERS))
    token: str | None = None

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Reply:
        all_headers = dict(self.headers)
        if self.token:
            all_headers["Authorization"] = f"Token {self.token}"
        payload = raw
        if body is not None:
            payload = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=payload, headers=all_headers)
            response = connection.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            connection.close()

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return self.request("POST", path, body, **kwargs)

    def direct(self) -> Client:
        """The same server reached directly (as the kubelet or Prometheus would), not via
        the Ingress: no forwarded headers, the pod address as Host."""
        return Client(self.port, headers={"Host": f"10.0.0.7:{self.port}"})

    def as_user(self, token: str) -> Client:
        return Client(self.port, dict(self.headers), token)
