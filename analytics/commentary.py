"""An optional language model's commentary on the AI signal (pure: no Django): the prompt, and one interface with
two implementations — an OpenAI-compatible chat API (OpenAI, and the local servers that speak it: llama.cpp,
Ollama, vLLM, LM Studio …) and Anthropic's Messages API.

**They explain, the ensemble decides.** The prompt carries the signal's own facts only — the signal, its
confidence and probabilities, the inputs that pushed it, the regime, the 1-day forecast's inputs and the
walk-forward track record — and tells the model to explain that signal in 2–4 sentences, not to recommend anything
else and not to invent a number. Nothing about the user, their accounts or their positions is sent.

**Failures are values, never hangs.** A call runs in a thread of its own and is waited for at most ``timeout``
seconds (the connection, the answer and the body all inside it, however slowly a server trickles); every failure
ends as ``CommentaryError`` with a ``reason`` code (``REASONS``) and a plain English message that never carries
the API key nor the body of an error answer (which may echo it). The text is stripped and capped at ``MAX_CHARS``.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import requests
from urllib3.exceptions import ReadTimeoutError

from accounts.net import private_host

MAX_CHARS = 1200
MAX_BYTES = 512_000  # a larger answer body is refused (bad_response)
REASONS = ("timeout", "unreachable", "unauthorized", "http_error", "bad_response", "empty", "private_address")
LANGUAGES = {"en": "English", "ko": "Korean"}
ANTHROPIC_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
USER_AGENT = "Trendy/1.0 (+signal commentary)"

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "…"}


class CommentaryError(Exception):
    """A commentator that gave no usable text. ``reason`` is one of REASONS; the message is English, key-free."""

    def __init__(self, reason: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status  # the HTTP status of an error answer


# --- The prompt ----------------------------------------------------------------------------------------------

INPUTS_GLOSSARY = {
    "votes_net": "the six built-in strategies' net vote, from -1 (all short) to +1 (all long)",
    "p_trending_up": "the regime model's probability of a rising day ahead",
    "p_trending_down": "the regime model's probability of a falling day ahead",
    "p_ranging": "the regime model's probability of a sideways day ahead",
    "p_volatile": "the regime model's probability of a volatile day ahead",
    "f_median": "the 1-day price forecast's median, as a log return",
    "f_width": "the width of the 1-day forecast's 80 % interval, as a log return",
    "(any other name)": "a built-in strategy's stance: +1 long, -1 short, 0 out of the market",
}

SYSTEM = """You write a short commentary on a trading signal for a crypto trading platform's user.
The signal was decided by a quantitative model (a logistic regression over six rule-based strategies, a regime \
model and a price forecast, with weights learnt walk-forward). You do not decide anything: you explain the signal \
you are given.
Rules:
- Write {language} only, in 2 to 4 plain sentences, with no heading, list or markdown.
- Explain why the model says "{signal}", from the drivers given; say how sure it is.
- Never recommend a different action, never say buy, sell or hold yourself beyond reporting the signal, and give \
no price target, leverage or position size.
- Use only the numbers in the facts; never invent, extrapolate or round a number into a new claim. Percentages in \
the facts are fractions (0.42 means 42 %).
- Mention the track record honestly: if the balanced accuracy is near chance (0.33) or following the signal lost \
money in the test, say so.
- End by reminding the reader that this is not financial advice."""


def _num(value: Any, digits: int = 4) -> Any:
    """A finite number rounded for the prompt; anything else as it is (None stays None)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return round(float(value), digits) if math.isfinite(value) else None


def _record(figures: Mapping[str, Any] | None) -> dict[str, Any]:
    keep = (
        "rows",
        "accuracy",
        "balanced_accuracy",
        "buy_then_rise",
        "sell_then_fall",
        "follow_return",
        "buy_and_hold_return",
        "shares",
    )
    figures = figures or {}
    out: dict[str, Any] = {}
    for key in keep:
        if key in figures:
            value = figures[key]
            out[key] = {k: _num(v) for k, v in value.items()} if isinstance(value, Mapping) else _num(value)
    return out


def facts(answer: Mapping[str, Any]) -> dict[str, Any]:
    """The signal's facts the model may use: what ``market_signal`` answered, without anything else."""
    inputs = answer.get("inputs") or {}
    track = answer.get("track_record") or {}
    walk = track.get("walk_forward") or {}
    return {
        "market": answer.get("market") or answer.get("symbol"),
        "timeframe": answer.get("timeframe"),
        "as_of": answer.get("as_of"),
        "last_close": _num(answer.get("price"), 8),
        "signal": answer.get("signal"),
        "horizon_bars": answer.get("horizon_bars"),
        "confidence": _num(answer.get("confidence")),
        "probabilities": {k: _num(v) for k, v in (answer.get("probabilities") or {}).items()},
        "drivers": [
            {"input": d.get("input"), "value": _num(d.get("value")), "push_toward_signal": _num(d.get("push"))}
            for d in (answer.get("drivers") or [])
        ],
        "regime_now": (answer.get("regime") or {}).get("current"),
        "forecast_inputs": {k: _num(inputs[k]) for k in ("f_median", "f_width") if k in inputs},
        "track_record_walk_forward": {
            "signal": _record(walk.get("model")),
            "six_strategies_majority_vote": _record(walk.get("votes")),
            "always_hold": _record(walk.get("hold")),
        },
        "track_record_live": {k: _num(v) for k, v in (track.get("live") or {}).items()},
    }


def prompt(answer: Mapping[str, Any], language: str) -> list[Message]:
    """The system and user messages that ask for a commentary on ``answer`` (a ``market_signal`` answer) in
    ``language`` ("ko": Korean; anything else: English)."""
    name = LANGUAGES.get(language, LANGUAGES["en"])
    system = SYSTEM.format(language=name, signal=answer.get("signal", ""))
    user = (
        f"Explain this signal in {name}, in 2 to 4 sentences.\n\n"
        f"Facts (JSON):\n{json.dumps(facts(answer), ensure_ascii=False, indent=1)}\n\n"
        f"What the inputs mean (JSON):\n{json.dumps(INPUTS_GLOSSARY, ensure_ascii=False, indent=1)}"
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


TEST_PROMPT: list[Message] = [
    {"role": "system", "content": "You check a connection. Answer in one short sentence."},
    {"role": "user", "content": "Say that the connection works."},
]


# --- The commentators ----------------------------------------------------------------------------------------


class Commentator(Protocol):
    """Anything that turns messages into a short text, or raises CommentaryError."""

    provider: str
    model: str

    def comment(self, messages: Sequence[Message], *, timeout: float) -> str: ...


def clean_text(text: str, limit: int = MAX_CHARS) -> str:
    """The text stripped and capped at ``limit`` characters (cut at a word, with an ellipsis)."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def _bounded(call: Any, timeout: float) -> Any:
    """``call()`` in a thread of its own, waited for at most ``timeout`` seconds (plus a moment for the HTTP
    client's own timeout to win the race and say which part was slow). A call left running ends by itself on its
    socket timeouts; nobody waits for it."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread as it is
            box["error"] = exc

    thread = threading.Thread(target=run, name="commentary", daemon=True)
    thread.start()
    thread.join(timeout + 0.25)
    if thread.is_alive():
        raise CommentaryError("timeout", f"The language model did not answer within {timeout:g} s.")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _post(url: str, headers: Mapping[str, str], body: Mapping[str, Any], timeout: float, allow_private: bool) -> Any:
    """POST ``body`` as JSON and return the decoded JSON of a 2xx answer; CommentaryError otherwise. Without
    ``allow_private`` a host that resolves to a non-public address is not asked (checked here, inside the
    bounded call, since resolving a name can hang too)."""
    deadline = time.monotonic() + timeout
    if not allow_private and private_host(url):
        raise CommentaryError("private_address", "The base URL resolves to an address that is not public.")
    try:
        response = requests.post(
            url,
            json=body,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json", **headers},
            timeout=(timeout, timeout),
            allow_redirects=False,
            stream=True,
        )
        with response:
            status = response.status_code
            if status in (401, 403):
                raise CommentaryError(
                    "unauthorized", f"The language model's API refused the key (HTTP {status}).", status=status
                )
            if not 200 <= status < 300:
                raise CommentaryError("http_error", f"The language model's API answered HTTP {status}.", status=status)
            chunks, size = [], 0
            for chunk in response.iter_content(4096):
                size += len(chunk)
                if size > MAX_BYTES:
                    raise CommentaryError("bad_response", f"The language model sent more than {MAX_BYTES} bytes.")
                if time.monotonic() > deadline:
                    raise CommentaryError("timeout", f"The language model did not answer within {timeout:g} s.")
                chunks.append(chunk)
    except requests.Timeout:
        raise CommentaryError("timeout", f"The language model did not answer within {timeout:g} s.") from None
    except requests.ConnectionError as exc:
        if exc.args and isinstance(exc.args[0], ReadTimeoutError):  # a timeout while reading the body
            raise CommentaryError("timeout", f"The language model did not answer within {timeout:g} s.") from None
        raise CommentaryError("unreachable", "The language model's API could not be reached.") from None
    except requests.RequestException as exc:
        raise CommentaryError(
            "unreachable", f"The language model's API could not be asked ({type(exc).__name__})."
        ) from None
    try:
        return json.loads(b"".join(chunks))
    except ValueError:
        raise CommentaryError("bad_response", "The language model's API did not answer JSON.") from None


def _malformed(what: str) -> CommentaryError:
    return CommentaryError("bad_response", f"The language model's answer has no {what}.")


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CommentaryError("empty", "The language model answered with no text.")
    return clean_text(value)


class OpenAICompatible:
    """``POST {base_url}/chat/completions`` (base_url such as https://api.openai.com/v1 or, for a local Llama,
    http://127.0.0.1:11434/v1); ``Authorization: Bearer`` when there is a key (local servers need none)."""

    provider = "openai"

    def __init__(
        self, base_url: str, api_key: str, model: str, max_tokens: int = 400, *, allow_private: bool = True
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.model = model
        self.max_tokens = max_tokens
        self.allow_private = allow_private

    def __repr__(self) -> str:  # never the key
        return f"OpenAICompatible(base_url={self.base_url!r}, model={self.model!r})"

    def request(self, messages: Sequence[Message]) -> tuple[str, dict[str, str], dict[str, Any]]:
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        body = {"model": self.model, "messages": [dict(m) for m in messages], "max_tokens": self.max_tokens}
        return f"{self.base_url}/chat/completions", headers, body

    def comment(self, messages: Sequence[Message], *, timeout: float) -> str:
        url, headers, body = self.request(messages)
        data = _bounded(lambda: _post(url, headers, body, timeout, self.allow_private), timeout)
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise _malformed("choices[0].message.content") from None
        if content is not None and not isinstance(content, str):
            raise _malformed("text content")
        return _text(content)


class Anthropic:
    """``POST {base_url}/v1/messages`` with ``x-api-key`` and ``anthropic-version``; the system prompt is the
    top-level ``system`` field and the answer's text blocks are joined."""

    provider = "anthropic"

    def __init__(
        self, base_url: str, api_key: str, model: str, max_tokens: int = 400, *, allow_private: bool = True
    ) -> None:
        self.base_url = (base_url or ANTHROPIC_URL).rstrip("/")
        self._api_key = api_key
        self.model = model
        self.max_tokens = max_tokens
        self.allow_private = allow_private

    def __repr__(self) -> str:  # never the key
        return f"Anthropic(base_url={self.base_url!r}, model={self.model!r})"

    def request(self, messages: Sequence[Message]) -> tuple[str, dict[str, str], dict[str, Any]]:
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        rest = [{"role": m["role"], "content": m["content"]} for m in messages if m["role"] != "system"]
        headers = {"anthropic-version": ANTHROPIC_VERSION, **({"x-api-key": self._api_key} if self._api_key else {})}
        body: dict[str, Any] = {"model": self.model, "max_tokens": self.max_tokens, "messages": rest}
        if system:
            body["system"] = system
        return f"{self.base_url}/v1/messages", headers, body

    def comment(self, messages: Sequence[Message], *, timeout: float) -> str:
        url, headers, body = self.request(messages)
        data = _bounded(lambda: _post(url, headers, body, timeout, self.allow_private), timeout)
        blocks = data.get("content") if isinstance(data, dict) else None
        if not isinstance(blocks, list):
            raise _malformed("content")
        texts = [b.get("text") for b in blocks if isinstance(b, dict) and b.get("type") == "text"]
        return _text("".join(t for t in texts if isinstance(t, str)))


PROVIDERS: dict[str, type[OpenAICompatible] | type[Anthropic]] = {"openai": OpenAICompatible, "anthropic": Anthropic}


def commentator(
    provider: str, *, base_url: str, api_key: str, model: str, max_tokens: int, allow_private: bool = True
) -> Commentator:
    """The implementation of ``provider`` ("openai" or "anthropic")."""
    return PROVIDERS[provider](base_url, api_key, model, max_tokens, allow_private=allow_private)
