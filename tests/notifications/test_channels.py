"""Every channel against a real local server on 127.0.0.1 (never the internet): what each service receives, and
how each failure is classed — permanent (disable the channel) or temporary (retry, with the service's wait) — with
no token, key or webhook URL in any error."""

from __future__ import annotations

import base64
import json
import os
import time

import http_ece
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from py_vapid import Vapid01

from notifications.channels import base, fcm
from notifications.channels.base import Message, TransportError
from notifications.channels.email import EmailTransport
from notifications.channels.fcm import FcmTransport, ServiceAccount
from notifications.channels.slack import SlackTransport, is_slack_url
from notifications.channels.telegram import TelegramTransport
from notifications.channels.webpush import WebPushTransport
from tests.notifications.fakes import Reply

TOKEN = "123456:AAH-secret-bot-token_0123456789"
MESSAGE = Message(title="Order filled <BTC/USDT>", body="Bought 0.01 BTC at 64,000.00 USDT", url="https://t.example/x")


def failure(transport, message=MESSAGE) -> TransportError:
    with pytest.raises(TransportError) as caught:
        transport.send(message)
    return caught.value


# --- Telegram ------------------------------------------------------------------------------------------------------


def test_telegram_sends_the_message_to_the_linked_chat(service):
    path = f"/bot{TOKEN}/sendMessage"
    service.route(path, Reply(200, {"ok": True, "result": {"message_id": 1}}))
    TelegramTransport(token=TOKEN, chat_id="987654", api_url=service.url).send(MESSAGE)
    (seen,) = service.hits(path)
    body = seen.json()
    assert body["chat_id"] == "987654" and body["parse_mode"] == "HTML"
    assert body["text"].startswith("<b>Order filled &lt;BTC/USDT&gt;</b>\nBought 0.01 BTC")  # escaped
    assert "https://t.example/x" in body["text"]


@pytest.mark.parametrize(
    ("reply", "permanent", "wait"),
    [
        (Reply(403, {"ok": False, "description": "Forbidden: bot was blocked by the user"}), True, None),
        (Reply(401, {"ok": False, "description": f"Unauthorized {TOKEN}"}), True, None),
        (Reply(400, {"ok": False, "description": "Bad Request: chat not found"}), True, None),
        (Reply(429, {"ok": False, "parameters": {"retry_after": 7}}), False, 7.0),
        (Reply(502, "<html>bad gateway</html>"), False, None),
    ],
)
def test_telegram_failures(service, reply, permanent, wait):
    service.route(f"/bot{TOKEN}/sendMessage", reply)
    error = failure(TelegramTransport(token=TOKEN, chat_id="1", api_url=service.url))
    assert error.permanent is permanent and error.retry_after == wait
    assert TOKEN not in error.message and TOKEN not in repr(TelegramTransport(token=TOKEN, chat_id="1"))


def test_a_slow_or_absent_service_is_temporary(service, monkeypatch):
    monkeypatch.setattr(base, "TIMEOUT", 0.5)
    service.route(f"/bot{TOKEN}/sendMessage", Reply(200, delay=2))
    started = time.monotonic()
    error = failure(TelegramTransport(token=TOKEN, chat_id="1", api_url=service.url))
    assert not error.permanent and "did not answer within 0.5 s" in error.message
    assert time.monotonic() - started < 1.5
    closed = failure(TelegramTransport(token=TOKEN, chat_id="1", api_url="http://127.0.0.1:9"))
    assert not closed.permanent and "could not be reached" in closed.message and TOKEN not in closed.message


# --- Slack ---------------------------------------------------------------------------------------------------------


def test_slack_posts_to_the_webhook_and_knows_a_gone_one(service):
    url = service.route("/services/T000/B000/XXXXSECRET", Reply(200, "ok"), Reply(404, "no_service"))
    SlackTransport(webhook_url=url).send(MESSAGE)
    assert service.hits("/services/T000/B000/XXXXSECRET")[0].json() == {
        "text": "*Order filled <BTC/USDT>*\nBought 0.01 BTC at 64,000.00 USDT\n<https://t.example/x>"
    }
    gone = failure(SlackTransport(webhook_url=url))
    assert gone.permanent and "no_service" in gone.message and "XXXXSECRET" not in gone.message
    service.route("/services/T000/B000/XXXXSECRET", Reply(429, "rate_limited", {"Retry-After": "3"}))
    slow = failure(SlackTransport(webhook_url=url))
    assert not slow.permanent and slow.retry_after == 3.0


def test_only_slacks_own_webhook_urls():
    assert is_slack_url("https://hooks.slack.com/services/T000/B000/XXXX")
    for url in (
        "http://hooks.slack.com/services/T/B/X",  # not https
        "https://hooks.slack.com.evil.example/services/T/B/X",
        "https://127.0.0.1/services/T/B/X",
        "https://hooks.slack.com/api/other",
    ):
        assert not is_slack_url(url), url


# --- Web push ------------------------------------------------------------------------------------------------------


def browser_subscription(endpoint: str) -> tuple[dict, ec.EllipticCurvePrivateKey, bytes]:
    """What a browser's PushManager.subscribe() gives: the endpoint, its P-256 public key and an auth secret."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    auth = os.urandom(16)

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return {"endpoint": endpoint, "keys": {"p256dh": b64(public), "auth": b64(auth)}}, key, auth


def test_web_push_is_encrypted_for_the_browser_and_signed_with_vapid(service):
    endpoint = service.route("/push/abc", Reply(201, ""))
    subscription, browser_key, auth = browser_subscription(endpoint)
    vapid = Vapid01()
    vapid.generate_keys()
    private = base64.urlsafe_b64encode(
        vapid.private_key.private_numbers().private_value.to_bytes(32, "big")
    ).decode().rstrip("=")  # fmt: skip
    WebPushTransport(
        subscription=subscription, vapid_private_key=private, vapid_subject="mailto:ops@trendy.example"
    ).send(MESSAGE)
    (seen,) = service.hits("/push/abc")
    assert seen.headers["content-encoding"] == "aes128gcm" and int(seen.headers["ttl"]) > 0
    token, key = seen.headers["authorization"].removeprefix("vapid t=").split(",k=")
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["aud"] == service.url and claims["sub"] == "mailto:ops@trendy.example"  # the push service's origin
    public = vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    assert base64.urlsafe_b64decode(key + "=" * (-len(key) % 4)) == public  # signed by the server's VAPID key
    assert b"Order filled" not in seen.body  # the push service cannot read it
    clear = http_ece.decrypt(seen.body, private_key=browser_key, auth_secret=auth, version="aes128gcm")
    assert json.loads(clear) == {
        "title": MESSAGE.title, "body": MESSAGE.body, "url": MESSAGE.url, "severity": "info"
    }  # fmt: skip
    service.route("/push/abc", Reply(410, "gone"))
    gone = failure(WebPushTransport(subscription=subscription, vapid_private_key=private, vapid_subject="mailto:o@t.x"))
    assert gone.permanent
    service.route("/push/abc", Reply(503, "busy", {"Retry-After": "30"}))
    busy = failure(WebPushTransport(subscription=subscription, vapid_private_key=private, vapid_subject="mailto:o@t.x"))
    assert not busy.permanent and busy.retry_after == 30.0


# --- FCM HTTP v1 ---------------------------------------------------------------------------------------------------


@pytest.fixture
def account(service):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    fcm._tokens.clear()
    found = ServiceAccount.from_json(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "trendy-test",
                "client_email": "push@trendy-test.iam.example",
                "private_key": pem,
                "token_uri": service.url + "/token",
            }
        )
    )
    return found, key.public_key()


def jwt_claims(assertion: str, public_key) -> dict:
    header, claims, signature = assertion.split(".")

    def unb64(text: str) -> bytes:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

    public_key.verify(unb64(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return json.loads(unb64(claims))


def test_fcm_signs_in_as_the_service_account_and_sends_to_the_device(service, account):
    found, public_key = account
    service.route("/token", Reply(200, {"access_token": "ya29.first", "expires_in": 3600}))
    send = "/v1/projects/trendy-test/messages:send"
    service.route(send, Reply(200, {"name": "projects/trendy-test/messages/1"}))
    transport = FcmTransport(device_token="device-abc", account=found, api_url=service.url)
    transport.send(MESSAGE)
    transport.send(MESSAGE)  # the access token is kept: one token request
    (token_request,) = service.hits("/token")
    form = dict(pair.split("=", 1) for pair in token_request.body.decode().split("&"))
    claims = jwt_claims(form["assertion"], public_key)  # signed with the account's key
    assert claims["iss"] == "push@trendy-test.iam.example" and claims["aud"] == service.url + "/token"
    assert claims["scope"] == fcm.SCOPE and claims["exp"] - claims["iat"] == 3600
    sent = service.hits(send)
    assert len(sent) == 2 and sent[0].headers["authorization"] == "Bearer ya29.first"
    assert sent[0].json()["message"]["token"] == "device-abc"
    assert sent[0].json()["message"]["notification"] == {"title": MESSAGE.title, "body": MESSAGE.body}


def test_fcm_refreshes_an_expired_token_once_and_knows_a_gone_device(service, account):
    found, _key = account
    service.route("/token", Reply(200, {"access_token": "ya29.old"}), Reply(200, {"access_token": "ya29.new"}))
    send = "/v1/projects/trendy-test/messages:send"
    service.route(send, Reply(401, {"error": {"status": "UNAUTHENTICATED"}}), Reply(200, {"name": "m/2"}))
    FcmTransport(device_token="device-abc", account=found, api_url=service.url).send(MESSAGE)
    assert [s.headers["authorization"] for s in service.hits(send)] == ["Bearer ya29.old", "Bearer ya29.new"]
    unregistered = {"error": {"status": "NOT_FOUND", "details": [{"errorCode": "UNREGISTERED"}]}}
    service.route(send, Reply(404, unregistered))
    gone = failure(FcmTransport(device_token="device-abc", account=found, api_url=service.url))
    assert gone.permanent and "UNREGISTERED" in gone.message and "device-abc" not in gone.message
    service.route(send, Reply(503, {"error": {"status": "UNAVAILABLE"}}, {"Retry-After": "12"}))
    busy = failure(FcmTransport(device_token="device-abc", account=found, api_url=service.url))
    assert not busy.permanent and busy.retry_after == 12.0
    with pytest.raises(TransportError) as bad:
        ServiceAccount.from_json('{"project_id": "x"}')
    assert bad.value.permanent


# --- E-mail --------------------------------------------------------------------------------------------------------


def test_email_reaches_the_smtp_server_and_a_refused_address_is_permanent(smtp, settings):
    EmailTransport(address="trader@example.com").send(MESSAGE)
    (mail,) = smtp.messages
    assert mail["To"] == "trader@example.com" and mail["Subject"] == "[Trendy] Order filled <BTC/USDT>"
    assert "Bought 0.01 BTC" in mail.get_payload(decode=True).decode() and mail["From"] == settings.DEFAULT_FROM_EMAIL
    smtp.refuse.add("gone@example.com")
    assert failure(EmailTransport(address="gone@example.com")).permanent
    settings.EMAIL_PORT = 9  # nothing listens: temporary
    assert not failure(EmailTransport(address="trader@example.com")).permanent
