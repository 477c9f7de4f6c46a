"""The simulator's signing keys: RSA keys generated at start, published as a JWKS, rotatable."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

#: JWKS entries kept after rotations (older keys are dropped from the JWKS).
PUBLISHED = 3


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey

    def jwk(self) -> dict[str, Any]:
        public = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "use": "sig", "alg": "RS256"}


class KeyRing:
    def __init__(self) -> None:
        self.keys: list[SigningKey] = []
        self.rotate()

    @property
    def current(self) -> SigningKey:
        return self.keys[-1]

    def rotate(self, retire_previous: bool = False) -> str:
        """A new signing key; older ones stay published (tokens they signed still verify)
        unless ``retire_previous``."""
        key = SigningKey(f"ikd-sim-{len(self.keys) + 1}-{secrets.token_hex(4)}",
                         rsa.generate_private_key(public_exponent=65537, key_size=2048))
        self.keys = ([] if retire_previous else self.keys[-(PUBLISHED - 1):]) + [key]
        return key.kid

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.jwk() for k in self.keys]}

    def sign(self, claims: dict[str, Any], *, algorithm: str = "RS256", headers: dict[str, Any] | None = None) -> str:
        """Sign with the current key; a header given as None is left out (e.g. no kid)."""
        merged = {"kid": self.current.kid, **(headers or {})}
        return jwt.encode(claims, self.current.private, algorithm=algorithm,
                          headers={k: v for k, v in merged.items() if v is not None})

    def verify(self, token: str, *, issuer: str, audience: str) -> dict[str, Any]:
        """Claims of a token this simulator issued (PyJWT errors propagate)."""
        kid = jwt.get_unverified_header(token).get("kid")
        key = next((k for k in self.keys if k.kid == kid), None)
        if key is None:
            raise jwt.InvalidKeyError("unknown key id")
        return jwt.decode(token, key.private.public_key(), algorithms=["RS256"], audience=audience, issuer=issuer,
                          options={"require": ["iss", "sub", "aud", "exp", "iat"]})
