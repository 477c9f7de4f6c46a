"""The simulator's signing key: EC P-256 (ES256) — a different key type from the IKD simulator's
RSA keys — generated at start, or derived from a seed so that a restart keeps tokens valid."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

ALGORITHM = "ES256"
#: the order of P-256's base point: a private scalar lies in [1, n - 1]
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: ec.EllipticCurvePrivateKey

    @classmethod
    def create(cls, seed: str | None = None) -> SigningKey:
        """A new P-256 key; the same ``seed`` always gives the same key (development only)."""
        if seed is None:
            private = ec.generate_private_key(ec.SECP256R1())
        else:
            digest = hashlib.sha256(f"perlinsos-oidc-sim:{seed}".encode()).digest()
            private = ec.derive_private_key(int.from_bytes(digest, "big") % (_P256_ORDER - 1) + 1, ec.SECP256R1())
        public = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
        # RFC 7638 thumbprint as the key id: stable for one key, different for another.
        canonical = json.dumps({k: public[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"),
                               sort_keys=True)
        return cls(f"oidc-sim-{_b64(hashlib.sha256(canonical.encode()).digest())[:16]}", private)

    def jwk(self) -> dict[str, Any]:
        public = ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "use": "sig", "alg": ALGORITHM}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk()]}

    def sign(self, claims: dict[str, Any], *, typ: str = "JWT") -> str:
        return jwt.encode(claims, self.private, algorithm=ALGORITHM, headers={"kid": self.kid, "typ": typ})
