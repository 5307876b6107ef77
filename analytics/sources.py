"""Where the posts come from (pure: no Django): Reddit's public JSON, news RSS/Atom feeds and X's recent search.

Each client turns one source's answers into ``Post``s (``analytics.sentiment``). They share one HTTP path
(``SourceConfig``):

- **rate limit**: at least ``min_interval`` seconds between two requests of the same client (the clock is
  ``time.monotonic``; tests inject their own clock and sleep);
- **retries**: a timeout, a connection failure, HTTP 408, 429 or 5xx is tried again, up to ``max_retries`` more
  times, after ``backoff * 2 ** attempt`` seconds, or after the wait the server asks for (``Retry-After``, or X's
  ``x-rate-limit-reset``). A wait longer than ``max_wait`` (60 s) is not slept through: the client gives up at
  once with ``rate_limited`` and the wait in ``SourceError.retry_after``, for the scheduler to honour;
- **errors**: everything ends as ``SourceError`` with a ``code``: ``unreachable`` (no connection, or 5xx after
  the retries), ``timeout``, ``rate_limited``, ``unauthorized`` (401/403, never retried), ``bad_response``
  (another 4xx, a body that is not the documented format, or larger than ``max_bytes``). Messages never carry
  the X bearer token.

A client's ``fetch(query, since)`` returns ``Fetched``: the posts published at or after ``since`` and the
issues of the parts that failed (one subreddit or one feed of several). When every part fails it raises.
Without an X bearer token, ``sources_from_config`` leaves X out: the source is off, not empty.

Why this file is long: the three clients share one HTTP path (rate limit, retries, the error codes) and each
parses its service's documented format; they are read and tested together.
"""

from __future__ import annotations

import calendar
import html
import io
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any, Protocol

import feedparser
import requests
from urllib3.exceptions import ReadTimeoutError

from analytics.sentiment import ASSETS, Post, SourceIssue, base_asset

USER_AGENT = "Trendy/1.0 (+sentiment)"
SUBREDDITS = ("CryptoCurrency", "Bitcoin", "ethereum", "solana")
FEEDS = {
    "CoinDesk": "https://www.coindesk.com/arc/outboundfeeds/rss/",
    "CoinTelegraph": "https://cointelegraph.com/rss",
    "CryptoSlate": "https://cryptoslate.com/feed/",
}
REDDIT_URL = "https://www.reddit.com"
X_URL = "https://api.x.com"
X_SEARCH_DAYS = 7  # recent search goes back seven days
CODES = ("unreachable", "rate_limited", "unauthorized", "bad_response", "timeout")


class SourceError(Exception):
    """A source that did not answer usefully; ``code`` is one of CODES, the message is plain and token-free."""

    def __init__(self, message: str, *, code: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.retry_after = retry_after  # seconds the server asked us to wait, when it said


@dataclass
class SourceConfig:
    base_url: str = ""
    timeout: float = 10.0  # seconds, for the connection and for each read
    max_retries: int = 3  # further attempts after the first
    backoff: float = 0.5  # seconds before the first retry, doubling after each
    max_wait: float = 60.0  # the longest wait (backoff or Retry-After) slept through
    min_interval: float = 0.0  # seconds between two requests of one client
    user_agent: str = USER_AGENT
    max_bytes: int = 5_000_000  # a larger body is refused (bad_response)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    wall: Callable[[], float] = field(default=time.time, repr=False)  # Unix time, for reset stamps and "now"


@dataclass(frozen=True)
class Fetched:
    posts: tuple[Post, ...]
    issues: tuple[SourceIssue, ...] = ()


class Source(Protocol):
    name: str

    def fetch(self, query: str, since: datetime) -> Fetched: ...


class _Http:
    """One client's requests: the rate limit, the retries and the mapping of failures to SourceError."""

    def __init__(self, what: str, config: SourceConfig, headers: Mapping[str, str] | None = None) -> None:
        self.what = what  # the source's name in messages
        self.config = config
        self._session = requests.Session()
        self._session.headers.update({"User-Agent": config.user_agent, **(headers or {})})
        self._last: float | None = None

    def _throttle(self) -> None:
        cfg = self.config
        if self._last is not None and cfg.min_interval > 0:
            wait = self._last + cfg.min_interval - cfg.clock()
            if wait > 0:
                cfg.sleep(wait)
        self._last = cfg.clock()

    def _read(self, response: requests.Response) -> bytes:
        chunks, size = [], 0
        for chunk in response.iter_content(65536):
            size += len(chunk)
            if size > self.config.max_bytes:
                response.close()
                raise SourceError(f"{self.what} sent more than {self.config.max_bytes} bytes.", code="bad_response")
            chunks.append(chunk)
        return b"".join(chunks)

    def _server_wait(self, response: requests.Response) -> float | None:
        """The wait the server asked for: Retry-After (seconds or a date), else X's x-rate-limit-reset stamp."""
        value = response.headers.get("Retry-After")
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                try:
                    return max(0.0, parsedate_to_datetime(value).timestamp() - self.config.wall())
                except (TypeError, ValueError):
                    pass
        reset = response.headers.get("x-rate-limit-reset")
        if reset and response.status_code == 429:
            try:
                return max(0.0, float(reset) - self.config.wall())
            except ValueError:
                return None
        return None

    def get(self, url: str, params: Mapping[str, Any] | None = None) -> tuple[bytes, Mapping[str, str]]:
        """The body and headers of a 2xx answer to GET ``url``, after the retries; SourceError otherwise."""
        cfg = self.config
        attempt = 0
        while True:
            self._throttle()
            asked: float | None = None
            try:
                response = self._session.get(url, params=params, timeout=cfg.timeout, stream=True)
                with response:
                    status = response.status_code
                    if 200 <= status < 300:
                        return self._read(response), response.headers
                    asked = self._server_wait(response)
            except requests.Timeout:
                failure = SourceError(f"{self.what} did not answer within {cfg.timeout:g} s.", code="timeout")
            except requests.ConnectionError as exc:
                if exc.args and isinstance(exc.args[0], ReadTimeoutError):  # a timeout while reading the body
                    failure = SourceError(f"{self.what} did not answer within {cfg.timeout:g} s.", code="timeout")
                else:
                    failure = SourceError(f"{self.what} could not be reached.", code="unreachable")
            except requests.RequestException as exc:
                raise SourceError(
                    f"{self.what} could not be asked ({type(exc).__name__}).", code="bad_response"
                ) from None
            else:
                if status in (401, 403):
                    raise SourceError(f"{self.what} refused access (HTTP {status}).", code="unauthorized")
                if status == 429:
                    failure = SourceError(
                        f"{self.what} is rate limiting us (HTTP 429).", code="rate_limited", retry_after=asked
                    )
                elif status >= 500 or status == 408:
                    failure = SourceError(f"{self.what} failed (HTTP {status}).", code="unreachable")
                else:
                    raise SourceError(f"{self.what} answered HTTP {status}.", code="bad_response")
            delay = asked if asked is not None else cfg.backoff * 2**attempt
            if attempt >= cfg.max_retries:
                raise failure
            if delay > cfg.max_wait:
                raise SourceError(
                    f"{failure.message} It asks us to wait {delay:.0f} s.", code=failure.code, retry_after=delay
                )
            if delay > 0:
                cfg.sleep(delay)
            attempt += 1


def _json(body: bytes, what: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise SourceError(f"{what} did not answer JSON.", code="bad_response") from None


def _utc(stamp: float) -> datetime:
    return datetime.fromtimestamp(stamp, UTC)


def _give_up(what: str, issues: Sequence[SourceIssue]) -> SourceError:
    codes = {issue.code for issue in issues}
    code = codes.pop() if len(codes) == 1 else "unreachable"
    detail = "; ".join(f"{i.outlet}: {i.message}" for i in issues)
    return SourceError(f"{what}: nothing answered ({detail})", code=code)


# --- Text ----------------------------------------------------------------------------------------------------


class _TextOnly(HTMLParser):
    SKIP = frozenset({"script", "style"})
    BLOCKS = frozenset({"p", "br", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "tr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skipping += 1
        elif tag in self.BLOCKS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self.BLOCKS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def strip_html(text: str) -> str:
    """The visible text of an HTML fragment, entities decoded and white space collapsed."""
    if "<" not in text and "&" not in text:
        return " ".join(text.split())
    parser = _TextOnly()
    parser.feed(text)
    parser.close()
    return " ".join(html.unescape("".join(parser.parts)).split())


# --- Queries -------------------------------------------------------------------------------------------------


def _terms(asset: str) -> list[str]:
    """The asset's names (its aliases longer than a ticker) and its ticker."""
    names = [a.lower() for a in ASSETS.get(asset, ()) if len(a) > 5 or " " in a]
    return [*dict.fromkeys(names), asset]


def query_for(asset: str, source: str = "reddit") -> str:
    """The search query for ``asset`` (a base asset or a market symbol) in ``source``'s syntax.

    Reddit: ``bitcoin OR BTC``. X: ``bitcoin OR #bitcoin OR BTC OR #BTC`` (keywords match cashtags too; the
    ``$`` cashtag operator is left out, as not every X API access level has it). News feeds cannot be
    searched: "" (the snapshot keeps the entries that mention the asset).
    """
    asset = base_asset(asset)
    quoted = [f'"{t}"' if " " in t else t for t in _terms(asset)]
    if source == "reddit":
        return " OR ".join(quoted)
    if source == "x":
        return " OR ".join(t for q in quoted for t in (q, *(() if " " in q else (f"#{q}",))))
    if source == "news":
        return ""
    raise ValueError(f"Unknown source {source!r}.")


# --- Reddit --------------------------------------------------------------------------------------------------


def _reddit_period(since: datetime, now: datetime) -> str:
    """Reddit's ``t`` filter: the shortest period that still reaches back to ``since``."""
    age = now - since
    for period, span in (("hour", 1), ("day", 24), ("week", 24 * 7), ("month", 24 * 31), ("year", 24 * 366)):
        if age <= timedelta(hours=span):
            return period
    return "all"


class RedditClient:
    """Reddit's public JSON search, one request per subreddit: GET /r/{sub}/search.json (no account needed).

    Reddit allows clients without OAuth about ten requests a minute, hence the 6 s default spacing.
    """

    name = "reddit"

    def __init__(self, subreddits: Sequence[str] = SUBREDDITS, config: SourceConfig | None = None) -> None:
        self.subreddits = tuple(subreddits)
        self.config = config or SourceConfig(base_url=REDDIT_URL, min_interval=6.0)
        self._http = _Http("Reddit", self.config, {"Accept": "application/json"})

    def __repr__(self) -> str:
        return f"RedditClient(subreddits={self.subreddits!r}, config={self.config!r})"

    def fetch(self, query: str, since: datetime) -> Fetched:
        base = (self.config.base_url or REDDIT_URL).rstrip("/")
        now = _utc(self.config.wall())
        params = {"q": query, "restrict_sr": "1", "sort": "new", "t": _reddit_period(since, now), "limit": "100"}
        posts: dict[str, Post] = {}
        issues: list[SourceIssue] = []
        answered = 0
        for sub in self.subreddits:
            try:
                body, _ = self._http.get(f"{base}/r/{sub}/search.json", params)
                found = parse_reddit(_json(body, "Reddit"))
            except SourceError as exc:
                issues.append(SourceIssue(source=self.name, code=exc.code, message=exc.message, outlet=f"r/{sub}"))
                if exc.code == "rate_limited":  # the whole site asks us to wait: stop asking (a 403 is one private sub)
                    break
                continue
            answered += 1
            for post in found:
                if post.published_at >= since:
                    posts.setdefault(post.id, post)
        if issues and not answered:
            raise _give_up("Reddit", issues)
        return Fetched(posts=tuple(posts.values()), issues=tuple(issues))


def parse_reddit(listing: Any) -> list[Post]:
    """The submissions of a Reddit Listing (``data.children[].data``, kind t3); other kinds are skipped."""
    try:
        children = listing["data"]["children"]
        if not isinstance(children, list):
            raise TypeError
    except (KeyError, TypeError):
        raise SourceError("Reddit answered something other than a Listing.", code="bad_response") from None
    posts = []
    for child in children:
        if not isinstance(child, dict) or child.get("kind", "t3") != "t3" or not isinstance(child.get("data"), dict):
            continue
        data = child["data"]
        try:
            text = data.get("selftext") or ""
            posts.append(
                Post(
                    source="reddit",
                    id=str(data["id"]),
                    title=html.unescape(str(data.get("title") or "")),
                    text="" if text in ("[removed]", "[deleted]") else html.unescape(text),
                    url=REDDIT_URL + str(data.get("permalink") or f"/comments/{data['id']}/"),
                    author=str(data.get("author") or ""),
                    published_at=_utc(float(data["created_utc"])),
                    engagement=float(max(0, int(data.get("score") or 0)) + max(0, int(data.get("num_comments") or 0))),
                    outlet=str(data.get("subreddit") or ""),
                )
            )
        except (KeyError, TypeError, ValueError, OverflowError, OSError):
            continue  # one broken item does not spoil the listing
    return posts


# --- News feeds ----------------------------------------------------------------------------------------------


class NewsClient:
    """RSS 2.0 and Atom feeds, each fetched through the shared HTTP path and read by feedparser.

    Feeds cannot be searched: ``fetch`` returns every dated entry since ``since`` and ignores ``query``.
    """

    name = "news"

    def __init__(self, feeds: Mapping[str, str] | None = None, config: SourceConfig | None = None) -> None:
        self.feeds = dict(FEEDS if feeds is None else feeds)
        self.config = config or SourceConfig(min_interval=1.0)
        self._http = _Http("News", self.config, {"Accept": "application/rss+xml, application/atom+xml, */*;q=0.5"})

    def __repr__(self) -> str:
        return f"NewsClient(feeds={self.feeds!r}, config={self.config!r})"

    def fetch(self, query: str, since: datetime | None = None) -> Fetched:
        posts: dict[str, Post] = {}
        issues: list[SourceIssue] = []
        for name, url in self.feeds.items():
            try:
                body, headers = self._http.get(url)
                found = parse_feed(body, outlet=name, url=url, content_type=headers.get("Content-Type", ""))
            except SourceError as exc:
                issues.append(SourceIssue(source=self.name, code=exc.code, message=exc.message, outlet=name))
                continue
            for post in found:
                if since is None or post.published_at >= since:
                    posts.setdefault(post.id, post)
        if issues and len(issues) == len(self.feeds):  # not one feed answered
            raise _give_up("News", issues)
        return Fetched(posts=tuple(posts.values()), issues=tuple(issues))


def _entry_time(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if parsed:
            return datetime.fromtimestamp(calendar.timegm(parsed), UTC)  # feedparser's struct_time is in UTC
    return None


def parse_feed(body: bytes, *, outlet: str, url: str = "", content_type: str = "") -> list[Post]:
    """The dated entries of an RSS or Atom document; entries without a date are skipped.

    feedparser is lenient: a feed with a recoverable flaw keeps the entries it could read. A body with no feed
    at all (an HTML page, broken XML with no entry) is a ``bad_response``.
    """
    headers = {"content-location": url, "content-type": content_type} if content_type else {"content-location": url}
    parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
    if not parsed.entries and (parsed.bozo or not parsed.version):
        raise SourceError(f"The {outlet} feed is not an RSS or Atom feed.", code="bad_response")
    posts = []
    for entry in parsed.entries:
        published = _entry_time(entry)
        title = strip_html(entry.get("title", ""))
        if published is None or not title:
            continue
        summary = entry.get("summary", "")
        if not summary and entry.get("content"):
            summary = entry["content"][0].get("value", "")
        link = entry.get("link", "")
        posts.append(
            Post(
                source="news",
                id=str(entry.get("id") or link or f"{outlet}:{title}"),
                title=title,
                text=strip_html(summary),
                url=link,
                author=strip_html(entry.get("author", "")),
                published_at=published,
                engagement=0.0,
                outlet=outlet,
            )
        )
    return posts


# --- X -------------------------------------------------------------------------------------------------------

_X_FIELDS = {
    "max_results": "100",
    "tweet.fields": "created_at,public_metrics,author_id",
    "expansions": "author_id",
    "user.fields": "username",
}


class XClient:
    """X API v2 recent search (GET /2/tweets/search/recent) with an app bearer token.

    Reposts are left out and the language is English; ``max_pages`` pages of 100 posts at most are read.
    The token goes into the Authorization header only: never into a message, a log line or ``repr``.
    """

    name = "x"

    def __init__(self, bearer_token: str, config: SourceConfig | None = None, *, max_pages: int = 1) -> None:
        if not bearer_token or not bearer_token.strip():
            raise ValueError("X needs a bearer token; without one the source is off.")
        self.config = config or SourceConfig(base_url=X_URL, min_interval=1.0)
        self.max_pages = max(1, max_pages)
        self._http = _Http("X", self.config, {"Authorization": f"Bearer {bearer_token.strip()}"})

    def __repr__(self) -> str:
        return f"XClient(config={self.config!r}, max_pages={self.max_pages}, bearer_token=<hidden>)"

    def fetch(self, query: str, since: datetime) -> Fetched:
        base = (self.config.base_url or X_URL).rstrip("/")
        now = _utc(self.config.wall())
        earliest = now - timedelta(days=X_SEARCH_DAYS) + timedelta(minutes=1)
        start = max(since.astimezone(UTC), earliest).replace(microsecond=0)
        params = {"query": f"({query}) -is:retweet lang:en", **_X_FIELDS, "start_time": _iso(start)}
        posts: dict[str, Post] = {}
        for _ in range(self.max_pages):
            body, _headers = self._http.get(f"{base}/2/tweets/search/recent", params)
            found, next_token = parse_x(_json(body, "X"))
            for post in found:
                if post.published_at >= since:
                    posts.setdefault(post.id, post)
            if not next_token:
                break
            params = {**params, "next_token": next_token}
        return Fetched(posts=tuple(posts.values()))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_x(answer: Any) -> tuple[list[Post], str | None]:
    """The posts of a recent-search answer (``data``, ``includes.users``, ``meta``) and the next page's token."""
    if not isinstance(answer, dict) or not isinstance(answer.get("meta", {}), dict):
        raise SourceError("X answered something other than a search result.", code="bad_response")
    meta = answer.get("meta", {})
    data = answer.get("data")
    if data is None:
        if "meta" in answer:  # result_count 0: no post matched
            return [], None
        detail = answer.get("detail") or answer.get("title") or "no data"
        raise SourceError(f"X answered without posts ({redacted(str(detail))[:200]}).", code="bad_response")
    if not isinstance(data, list):
        raise SourceError("X answered something other than a search result.", code="bad_response")
    users = {
        str(u.get("id")): str(u.get("username") or "")
        for u in (answer.get("includes") or {}).get("users", [])
        if isinstance(u, dict)
    }
    posts = []
    for tweet in data:
        try:
            tweet_id = str(tweet["id"])
            metrics = tweet.get("public_metrics") or {}
            engagement = sum(
                max(0, int(metrics.get(key) or 0))
                for key in ("like_count", "retweet_count", "reply_count", "quote_count")
            )
            username = users.get(str(tweet.get("author_id")), "")
            posts.append(
                Post(
                    source="x",
                    id=tweet_id,
                    title=" ".join(str(tweet["text"]).split()),
                    text="",
                    url=f"https://x.com/{username}/status/{tweet_id}"
                    if username
                    else f"https://x.com/i/web/status/{tweet_id}",
                    author=username,
                    published_at=datetime.fromisoformat(str(tweet["created_at"])).astimezone(UTC),
                    engagement=float(engagement),
                    outlet="X",
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            continue  # one broken post does not spoil the page
    token = meta.get("next_token")
    return posts, str(token) if token else None


# --- Wiring --------------------------------------------------------------------------------------------------


def sources_from_config(
    *,
    reddit: bool = True,
    subreddits: Sequence[str] | None = None,
    news: bool = True,
    feeds: Mapping[str, str] | None = None,
    x_bearer_token: str | None = None,
    configs: Mapping[str, SourceConfig] | None = None,
) -> dict[str, Source]:
    """The configured sources by name, in the order reddit, news, x. X is on only with a bearer token.

    ``configs`` overrides a source's ``SourceConfig`` (an empty base_url keeps the source's own address). An
    empty list of subreddits or feeds turns that source off too.
    """
    configs = configs or {}
    found: dict[str, Source] = {}
    if reddit and (subreddits is None or subreddits):
        found["reddit"] = RedditClient(SUBREDDITS if subreddits is None else subreddits, configs.get("reddit"))
    if news and (feeds is None or feeds):
        found["news"] = NewsClient(feeds, configs.get("news"))
    if x_bearer_token and x_bearer_token.strip():
        found["x"] = XClient(x_bearer_token, configs.get("x"))
    return found


_SECRETISH = re.compile(r"Bearer\s+\S+", re.IGNORECASE)


def redacted(text: str) -> str:
    """``text`` with any bearer token masked: for messages that quote a server's own words."""
    return _SECRETISH.sub("Bearer <hidden>", text)
