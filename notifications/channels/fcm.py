"""Mobile push through Firebase Cloud Messaging's HTTP v1 API (no Django import).

The server authenticates as a Google service account: a JWT signed with its RSA key (RS256) is exchanged at the
account's ``token_uri`` for an OAuth access token (kept until a minute before it expires), which authorises
``POST /v1/projects/<project>/messages:send``. A device token FCM no longer knows (404 ``UNREGISTERED``, 400
``INVALID_ARGUMENT`` on the token, 403 ``SENDER_ID_MISMATCH``) is permanent; a 401 refreshes the access token once.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from notifications.channels.base import TIMEOUT, Message, TransportError, post_json, retry_after

API_URL = "https://fcm.googleapis.com"
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
PERMANENT_CODES = ("UNREGISTERED", "INVALID_ARGUMENT", "SENDER_ID_MISMATCH")


@dataclass(frozen=True)
class ServiceAccount:
    project_id: str
    client_email: str
    private_key: str  # PEM
    token_uri: str = "https://oauth2.googleapis.com/token"  # noqa: S105 (an endpoint, not a secret)

    @classmethod
    def from_json(cls, text: str) -> ServiceAccount:
        """A service account key file's JSON (the fields FCM needs)."""
        try:
            data = json.loads(text)
            return cls(
                data["project_id"], data["client_email"], data["private_key"], data.get("token_uri") or cls.token_uri
            )
        except (ValueError, KeyError, TypeError):
            raise TransportError("The FCM service account JSON is not a service account key.", permanent=True) from None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def assertion(account: ServiceAccount, now: float) -> str:
    """The signed JWT the token endpoint exchanges for an access token."""
    header = _b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    claims = {
        "iss": account.client_email,
        "scope": SCOPE,
        "aud": account.token_uri,
        "iat": int(now),
        "exp": int(now) + 3600,
    }
    signing_input = f"{header}.{_b64(json.dumps(claims).encode())}"
    try:
        key = serialization.load_pem_private_key(account.private_key.encode(), password=None)
        signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[call-arg,union-attr]
    except (ValueError, TypeError):
        raise TransportError("The FCM service account's private key cannot sign.", permanent=True) from None
    return f"{signing_input}.{_b64(signature)}"


_tokens: dict[str, tuple[str, float]] = {}  # client_email → (access token, valid until)
_tokens_lock = threading.Lock()


def access_token(account: ServiceAccount, *, refresh: bool = False) -> str:
    now = time.time()
    with _tokens_lock:
        held = _tokens.get(account.client_email)
        if held and not refresh and held[1] > now:
            return held[0]
    try:
        response = requests.post(
            account.token_uri,
            data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion(account, now)},
            timeout=TIMEOUT,
            allow_redirects=False,
        )
    except requests.RequestException:
        raise TransportError("Google's token endpoint could not be reached.") from None
    if response.status_code in (400, 401, 403):
        raise TransportError(f"Google refused the FCM service account (HTTP {response.status_code}).", permanent=True)
    try:
        body = response.json()
        token, expires = str(body["access_token"]), float(body.get("expires_in", 3600))
    except (ValueError, KeyError, TypeError):
        raise TransportError(f"Google's token endpoint answered HTTP {response.status_code}.") from None
    with _tokens_lock:
        _tokens[account.client_email] = (token, now + expires - 60)
    return token


def _error_code(response: requests.Response) -> str:
    try:
        error: dict[str, Any] = response.json().get("error", {})
    except (ValueError, AttributeError):
        return ""
    for detail in error.get("details", []) or []:
        if isinstance(detail, dict) and detail.get("errorCode"):
            return str(detail["errorCode"])
    return str(error.get("status", ""))


class FcmTransport:
    kind = "fcm"

    def __init__(self, *, device_token: str, account: ServiceAccount, api_url: str = API_URL) -> None:
        self._device = device_token
        self.account = account
        self.api_url = (api_url or API_URL).rstrip("/")

    def __repr__(self) -> str:
        return f"FcmTransport(project={self.account.project_id!r})"

    def send(self, message: Message) -> None:
        payload = {
            "message": {
                "token": self._device,
                "notification": {"title": message.title, "body": message.body},
                "data": {**message.data, "url": message.url, "severity": message.severity},
            }
        }
        url = f"{self.api_url}/v1/projects/{self.account.project_id}/messages:send"
        for attempt in (1, 2):
            token = access_token(self.account, refresh=attempt == 2)
            response = post_json(url, payload, what="FCM", headers={"Authorization": f"Bearer {token}"})
            if response.status_code != 401:
                break
        if response.status_code == 200:
            return
        code = _error_code(response)
        if code in PERMANENT_CODES or response.status_code == 404:
            raise TransportError(f"FCM refused the device token ({code or response.status_code}).", permanent=True)
        raise TransportError(
            f"FCM answered HTTP {response.status_code} {code}.".strip(), retry_after=retry_after(response)
        )
