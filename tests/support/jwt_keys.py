"""Signing keys and tokens for the authentication tests: RSA, EC and Ed25519 keys with their
JWK Set, tokens with any claims and header, and a local HTTP server that serves a JWK Set
(which a test can rotate) and counts its fetches."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

SECRET = "a-test-secret-of-at-least-32-bytes-0123456789"


@dataclass(frozen=True)
class SigningKey:
    """A private key, the algorithm it signs with, and its public JWK."""

    kid: str
    algorithm: str
    private: Any
    public_jwk: dict[str, Any]

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        """A token with these claims, signed by this key, naming it by kid unless told otherwise."""
        headers = {name: value for name, value in {"kid": self.kid, **header}.items() if value is not None}
        return jwt.encode(claims, self.private, algorithm=self.algorithm, headers=headers)


def rsa_key(kid: str) -> SigningKey:
    """A fresh RS256 key."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _key(kid, "RS256", private, RSAAlgorithm.to_jwk(private.public_key(), as_dict=True))


def ec_key(kid: str) -> SigningKey:
    """A fresh ES256 (P-256) key."""
    private = ec.generate_private_key(ec.SECP256R1())
    return _key(kid, "ES256", private, ECAlgorithm.to_jwk(private.public_key(), as_dict=True))


def ed25519_key(kid: str) -> SigningKey:
    """A fresh EdDSA (Ed25519) key."""
    private = ed25519.Ed25519PrivateKey.generate()
    return _key(kid, "EdDSA", private, OKPAlgorithm.to_jwk(private.public_key(), as_dict=True))


def _key(kid: str, algorithm: str, private: Any, jwk: dict[str, Any]) -> SigningKey:
    return SigningKey(kid, algorithm, private, {**jwk, "kid": kid, "use": "sig", "alg": algorithm})


def jwk_set(*keys: SigningKey) -> dict[str, Any]:
    """The public JWK Set of these keys."""
    return {"keys": [key.public_jwk for key in keys]}


def claims(subject: str = "alice", *, roles: Any = ("customer",), ttl: float = 300, **extra: Any) -> dict[str, Any]:
    """Valid claims (sub, roles, iat, nbf, exp), with extra ones added or replaced (None removes one)."""
    now = int(time.time())
    values: dict[str, Any] = {"sub": subject, "roles": list(roles) if isinstance(roles, tuple) else roles,
                              "iat": now, "nbf": now, "exp": now + int(ttl)}
    values.update(extra)
    return {name: value for name, value in values.items() if value is not None}


class JwksServer:
    """Serves a JWK Set at /jwks.json on a loopback port; `keys` can be replaced (a rotation)."""

    def __init__(self, *keys: SigningKey) -> None:
        self.document = jwk_set(*keys)
        self.fetches = 0
        self.url = ""

    def rotate(self, *keys: SigningKey) -> None:
        """Serve another set from now on."""
        self.document = jwk_set(*keys)


@contextmanager
def jwks_server(*keys: SigningKey) -> Iterator[JwksServer]:
    """A JwksServer running in a thread until the block ends."""
    served = JwksServer(*keys)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            served.fetches += 1
            body = json.dumps(served.document).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served.url = f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
