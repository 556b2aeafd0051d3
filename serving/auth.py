"""The bearer-token check, shared by the gRPC and REST front doors."""
from __future__ import annotations

import hmac


def bearer_token_ok(authorization: str, token: str) -> bool:
    """True when the 'authorization' value is 'Bearer <token>'; constant time, so timing leaks nothing."""
    return hmac.compare_digest((authorization or "").encode(), f"Bearer {token}".encode())
