"""Where a notification goes: one transport per channel kind (e-mail, Telegram, Slack, web push, mobile push),
each behind the same ``Transport.send(message)`` (``base.py``), each tested against a real local server."""
