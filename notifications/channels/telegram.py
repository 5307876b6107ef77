"""Telegram: the Bot API's ``sendMessage`` to the chat the user linked (no Django import).

A revoked or wrong bot token (401), a chat that blocked the bot or no longer exists (403, or 400 "chat not found")
are permanent; 429 carries ``parameters.retry_after``.
"""

from __future__ import annotations

import html

from notifications.channels.base import Message, TransportError, post_json

API_URL = "https://api.telegram.org"
MAX_TEXT = 4096


class TelegramTransport:
    kind = "telegram"

    def __init__(self, *, token: str, chat_id: str, api_url: str = API_URL) -> None:
        self._token = token
        self.chat_id = chat_id
        self.api_url = (api_url or API_URL).rstrip("/")

    def __repr__(self) -> str:  # never the token
        return f"TelegramTransport(chat_id={self.chat_id!r})"

    def send(self, message: Message) -> None:
        text = f"<b>{html.escape(message.title)}</b>\n{html.escape(message.body)}"
        if message.url:
            text += f'\n<a href="{html.escape(message.url, quote=True)}">{html.escape(message.url)}</a>'
        payload = {
            "chat_id": self.chat_id,
            "text": text[:MAX_TEXT],
            "parse_mode": "HTML",
            "disable_web_page_preview": True,
        }
        response = post_json(f"{self.api_url}/bot{self._token}/sendMessage", payload, what="Telegram")
        if response.status_code == 200:
            return
        try:
            body = response.json()
        except ValueError:
            body = {}
        description = str(body.get("description", ""))[:200].replace(self._token, "…")
        status = response.status_code
        if status == 429:
            wait = (body.get("parameters") or {}).get("retry_after")
            raise TransportError("Telegram asks to slow down.", retry_after=float(wait) if wait else None)
        if status in (401, 403, 404) or (status == 400 and "chat not found" in description.lower()):
            raise TransportError(f"Telegram refused the message (HTTP {status}: {description}).", permanent=True)
        raise TransportError(f"Telegram answered HTTP {status}: {description}.")
