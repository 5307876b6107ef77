"""E-mail through Django's mail (SMTP in production): the message as text with its link."""

from __future__ import annotations

import smtplib

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from notifications.channels.base import TIMEOUT, Message, TransportError


class EmailTransport:
    kind = "email"

    def __init__(self, *, address: str) -> None:
        self.address = address

    def __repr__(self) -> str:
        return "EmailTransport()"

    def send(self, message: Message) -> None:
        body = message.body + (f"\n\n{message.url}" if message.url else "")
        mail = EmailMessage(
            subject=f"[Trendy] {message.title}",
            body=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[self.address],
            connection=get_connection(timeout=TIMEOUT),
        )
        try:
            mail.send()
        except smtplib.SMTPRecipientsRefused:
            raise TransportError("The mail server refused this address.", permanent=True) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TransportError(f"The mail server could not take the message ({type(exc).__name__}).") from None
