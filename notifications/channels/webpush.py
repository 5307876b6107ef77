"""Web push to a browser's push subscription, signed with the server's VAPID key (pywebpush; no Django import).

The payload is encrypted for the subscription (RFC 8291, aes128gcm) so the push service never reads it. A 404 or
410 from the push service means the subscription is gone: permanent.
"""

from __future__ import annotations

import json
from typing import Any

import requests
from pywebpush import WebPushException, webpush

from notifications.channels.base import TIMEOUT, Message, TransportError, retry_after

GONE = frozenset({400, 403, 404, 410})
TTL = 24 * 3600  # seconds a push service keeps a message for an offline browser


class WebPushTransport:
    kind = "webpush"

    def __init__(self, *, subscription: dict[str, Any], vapid_private_key: str, vapid_subject: str) -> None:
        self.subscription = subscription  # {"endpoint": …, "keys": {"p256dh": …, "auth": …}}
        self._key = vapid_private_key
        self.subject = vapid_subject  # mailto: or https: contact, as the push services require

    def __repr__(self) -> str:
        return "WebPushTransport()"

    def send(self, message: Message) -> None:
        payload = json.dumps(
            {"title": message.title, "body": message.body, "url": message.url, "severity": message.severity},
            ensure_ascii=False,
        )
        try:
            webpush(
                subscription_info=self.subscription,
                data=payload,
                vapid_private_key=self._key,
                vapid_claims={"sub": self.subject},
                ttl=TTL,
                timeout=TIMEOUT,
            )
        except WebPushException as exc:
            response = exc.response
            status = response.status_code if response is not None else None
            if status in GONE:
                raise TransportError(
                    f"The push service says the subscription is gone (HTTP {status}).", permanent=True
                ) from None
            wait = retry_after(response) if response is not None else None
            raise TransportError(f"The push service answered HTTP {status}.", retry_after=wait) from None
        except requests.Timeout:
            raise TransportError(f"The push service did not answer within {TIMEOUT:g} s.") from None
        except requests.RequestException:
            raise TransportError("The push service could not be reached.") from None
        except (ValueError, KeyError, TypeError):
            raise TransportError("This push subscription is malformed.", permanent=True) from None
