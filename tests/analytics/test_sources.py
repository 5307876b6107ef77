"""The source clients against recorded-format fixtures served from 127.0.0.1 (never the internet): parsing,
retries, Retry-After, timeouts, the rate limiter, partial failures and the bearer token kept out of messages."""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analytics import sources as S
from analytics.sources import NewsClient, RedditClient, SourceConfig, SourceError, XClient
from tests.fake_http import Reply, serving

FIXTURES = Path(__file__).parent / "fixtures" / "sentiment"
NOW = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)  # the fixtures' "now"
DAY_AGO = NOW - timedelta(hours=24)
TOKEN = "AAAAAAAAAAAAAAAAAAAAAtest-bearer-token-0123456789"
JSON = "application/json; charset=UTF-8"
RSS = "application/rss+xml; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"


def fixture(name: str, content_type: str = JSON, status: int = 200, **headers: str) -> Reply:
    return Reply(status=status, body=(FIXTURES / name).read_bytes(), headers={"Content-Type": content_type, **headers})


@pytest.fixture
def server():
    """GET only; an unrouted path answers like the real APIs' 404."""
    not_found = Reply(404, b'{"message": "Not Found", "error": 404}', {"Content-Type": JSON})
    with serving(not_found=not_found, methods={"GET"}) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    """127.0.0.1 only, whatever proxy the environment names."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


class FakeTime:
    """An injected monotonic clock, sleep and wall clock: sleeping advances both clocks and is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.unix = NOW.timestamp()
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds
        self.unix += seconds

    def wall(self) -> float:
        return self.unix


@pytest.fixture
def fake_time():
    return FakeTime()


@pytest.fixture
def config(server, fake_time):
    def make(**overrides) -> SourceConfig:
        values = {
            "base_url": server.url,
            "timeout": 2.0,
            "max_retries": 3,
            "backoff": 0.5,
            "min_interval": 0.0,
            "clock": fake_time.clock,
            "sleep": fake_time.sleep,
            "wall": fake_time.wall,
            **overrides,
        }
        return SourceConfig(**values)

    return make


# --- Reddit --------------------------------------------------------------------------------------------------


def test_reddit_parses_the_search_listing(server, config):
    server.route("/r/Bitcoin/search.json", fixture("reddit_search.json"))
    fetched = RedditClient(("Bitcoin",), config()).fetch("bitcoin OR BTC", DAY_AGO)

    assert len(fetched.posts) == 13  # 14 in the listing, one 30 h old
    assert fetched.issues == ()
    top = next(p for p in fetched.posts if p.id == "1l7x2ka")
    assert top.source == "reddit"
    assert top.title == "Bitcoin just broke $110k, new all-time high!"
    assert top.text.startswith("Never thought I'd see this day.")
    assert top.url.startswith("https://www.reddit.com/r/Bitcoin/comments/1l7x2ka/")
    assert top.author == "satoshi_fan_21"
    assert top.outlet == "Bitcoin"
    assert top.engagement == 2450 + 512  # score + comments
    assert top.published_at == NOW - timedelta(hours=2, minutes=14)
    assert all(p.published_at >= DAY_AGO for p in fetched.posts)

    (seen,) = server.hits("/r/Bitcoin/search.json")
    assert seen.query == {"q": "bitcoin OR BTC", "restrict_sr": "1", "sort": "new", "t": "day", "limit": "100"}
    assert seen.headers["User-Agent"] == "Trendy/1.0 (+sentiment)"


def test_reddit_one_subreddit_failing_keeps_the_others(server, config):
    server.route("/r/Bitcoin/search.json", fixture("reddit_search.json"))
    server.route("/r/ethereum/search.json", Reply(404, b"{}", {"Content-Type": JSON}))
    fetched = RedditClient(("Bitcoin", "ethereum"), config()).fetch("bitcoin", DAY_AGO)

    assert len(fetched.posts) == 13
    (issue,) = fetched.issues
    assert (issue.source, issue.code, issue.outlet) == ("reddit", "bad_response", "r/ethereum")


def test_a_private_subreddit_does_not_stop_the_others(server, config):
    server.route("/r/private_one/search.json", Reply(403, b'{"reason": "private", "error": 403}'))
    server.route("/r/Bitcoin/search.json", fixture("reddit_search.json"))
    fetched = RedditClient(("private_one", "Bitcoin"), config()).fetch("bitcoin", DAY_AGO)
    assert len(fetched.posts) == 13
    assert [(i.code, i.outlet) for i in fetched.issues] == [("unauthorized", "r/private_one")]


def test_reddit_rate_limit_stops_asking_the_other_subreddits(server, config):
    server.route("/r/Bitcoin/search.json", Reply(429, b"{}", {"Retry-After": "300"}))
    server.route("/r/ethereum/search.json", fixture("reddit_search.json"))
    with pytest.raises(SourceError) as caught:
        RedditClient(("Bitcoin", "ethereum"), config()).fetch("bitcoin", DAY_AGO)
    assert (caught.value.code, server.hits("/r/ethereum/search.json")) == ("rate_limited", [])


def test_reddit_skips_broken_items_and_other_kinds():
    listing = json.loads((FIXTURES / "reddit_search.json").read_text())
    children = listing["data"]["children"]
    children[0]["data"]["created_utc"] = "soon"
    children[1]["data"]["score"] = None  # a missing count is 0
    children.append({"kind": "t1", "data": {"id": "comment"}})
    children.append("garbage")
    posts = S.parse_reddit(listing)
    assert len(posts) == 13
    assert next(p for p in posts if p.id == children[1]["data"]["id"]).engagement == 210
    with pytest.raises(SourceError):
        S.parse_reddit({"kind": "Listing", "data": {"children": None}})


def test_reddit_with_every_subreddit_failing_raises(server, config):
    server.route("/r/Bitcoin/search.json", fixture("reddit_malformed.json"))
    with pytest.raises(SourceError) as caught:
        RedditClient(("Bitcoin",), config()).fetch("bitcoin", DAY_AGO)
    assert caught.value.code == "bad_response"


def test_reddit_period_reaches_back_to_since(server, config):
    server.route("/r/Bitcoin/search.json", fixture("reddit_search.json"))
    RedditClient(("Bitcoin",), config()).fetch("bitcoin", NOW - timedelta(days=3))
    assert server.hits("/r/Bitcoin/search.json")[0].query["t"] == "week"


# --- News feeds ----------------------------------------------------------------------------------------------


def feeds(server) -> dict[str, str]:
    return {
        "CoinDesk": server.route("/coindesk/rss", fixture("coindesk.xml", RSS)),
        "CoinTelegraph": server.route("/cointelegraph/rss", fixture("cointelegraph.xml", RSS)),
        "Example Desk": server.route("/desk/feed.atom", fixture("atom.xml", ATOM)),
    }


def test_news_reads_rss_and_atom(server, config):
    fetched = NewsClient(feeds(server), config()).fetch("", DAY_AGO)

    by_outlet = {name: [p for p in fetched.posts if p.outlet == name] for name in ("CoinDesk", "CoinTelegraph")}
    assert len(by_outlet["CoinDesk"]) == 6  # 7 items, one 50 h old
    assert len(by_outlet["CoinTelegraph"]) == 6  # 7 items, one without a date
    atom = [p for p in fetched.posts if p.outlet == "Example Desk"]
    assert len(atom) == 5
    assert fetched.issues == ()

    ct = next(p for p in fetched.posts if p.title.startswith("Bitcoin price eyes"))
    assert ct.source == "news" and ct.engagement == 0
    assert ct.text == "Analysts say the rally has room to run after BTC cleared resistance & funding stayed neutral."
    assert ct.published_at == NOW - timedelta(hours=2)
    assert ct.url == "https://cointelegraph.com/news/bitcoin-price-eyes-115k-as-analysts-turn-bullish"
    assert ct.author == "Cointelegraph by Ciaran Lyons"

    entry = next(p for p in atom if p.title == "Bitcoin hashrate hits all-time high")
    assert entry.id == "tag:news.example.org,2025:post-1003"
    assert entry.text.startswith("Miners keep adding machines")
    assert "<" not in entry.text
    assert entry.published_at == NOW - timedelta(hours=17)
    assert entry.url == "https://news.example.org/bitcoin-hashrate-hits-alltime-high"
    assert entry.author == "Alex Rivera"


def test_one_bad_feed_keeps_the_others(server, config):
    urls = feeds(server)
    urls["Example Desk"] = server.route("/broken/feed", fixture("feed_malformed.xml", "text/html"))
    fetched = NewsClient(urls, config()).fetch("", DAY_AGO)

    assert {p.outlet for p in fetched.posts} == {"CoinDesk", "CoinTelegraph"}
    assert len(fetched.posts) == 12
    (issue,) = fetched.issues
    assert (issue.code, issue.outlet) == ("bad_response", "Example Desk")


def test_news_with_every_feed_failing_raises(server, config):
    urls = {
        "A": server.route("/a", Reply(500)),
        "B": server.route("/b", fixture("feed_malformed.xml", "text/html")),
    }
    with pytest.raises(SourceError) as caught:
        NewsClient(urls, config(max_retries=0)).fetch("", DAY_AGO)
    assert caught.value.code == "unreachable"  # mixed failures
    assert "A:" in caught.value.message and "B:" in caught.value.message


# --- X -------------------------------------------------------------------------------------------------------

SEARCH = "/2/tweets/search/recent"


def test_x_parses_recent_search(server, config):
    server.route(SEARCH, fixture("x_recent_search.json"))
    fetched = XClient(TOKEN, config()).fetch("bitcoin OR BTC", DAY_AGO)

    assert len(fetched.posts) == 12  # 13 posts, one 30 h old
    first = next(p for p in fetched.posts if p.id == "1932401187453378912")
    assert first.source == "x"
    assert first.title.startswith("$BTC to the moon")
    assert first.author == "cryptodailywire"
    assert first.url == "https://x.com/cryptodailywire/status/1932401187453378912"
    assert first.engagement == 540 + 120 + 45 + 12  # likes + reposts + replies + quotes
    assert first.published_at == NOW - timedelta(hours=1, minutes=5)

    (seen,) = server.hits(SEARCH)
    assert seen.query["query"] == "(bitcoin OR BTC) -is:retweet lang:en"
    assert seen.query["max_results"] == "100"
    assert set(seen.query["tweet.fields"].split(",")) >= {"created_at", "public_metrics", "author_id"}
    assert seen.query["start_time"] == "2025-06-09T12:00:00Z"
    assert seen.headers["Authorization"] == f"Bearer {TOKEN}"


def test_x_start_time_stays_inside_the_seven_days(server, config):
    server.route(SEARCH, fixture("x_empty.json"))
    fetched = XClient(TOKEN, config()).fetch("bitcoin", NOW - timedelta(days=30))
    assert fetched.posts == ()
    assert server.hits(SEARCH)[0].query["start_time"] == "2025-06-03T12:01:00Z"


def test_x_follows_next_token_up_to_max_pages(server, config):
    server.route(SEARCH, fixture("x_recent_search.json"), fixture("x_recent_search_page2.json"))
    fetched = XClient(TOKEN, config(), max_pages=3).fetch("bitcoin", NOW - timedelta(hours=48))
    assert len(fetched.posts) == 15
    first, second = server.hits(SEARCH)
    assert "next_token" not in first.query
    assert second.query["next_token"] == "b26v89c19zqg8o3fpzhkbm3mczd2p9tzt1ghxo0jb3xtp"


def test_x_unauthorized_keeps_the_token_out(server, config):
    server.route(SEARCH, fixture("x_unauthorized.json", status=401))
    client = XClient(TOKEN, config())
    with pytest.raises(SourceError) as caught:
        client.fetch("bitcoin", DAY_AGO)
    assert caught.value.code == "unauthorized"
    assert len(server.hits(SEARCH)) == 1  # never retried
    for text in (str(caught.value), repr(caught.value), repr(client), repr(client.config)):
        assert TOKEN not in text
        assert "test-bearer" not in text


def test_x_rate_limit_reset_is_honoured(server, config, fake_time):
    reset = str(int(fake_time.unix) + 12)
    server.route(
        SEARCH,
        fixture("x_rate_limited.json", status=429, **{"x-rate-limit-reset": reset, "x-rate-limit-remaining": "0"}),
        fixture("x_recent_search.json"),
    )
    fetched = XClient(TOKEN, config()).fetch("bitcoin", DAY_AGO)
    assert len(fetched.posts) == 12
    assert fake_time.sleeps == [12.0]


def test_x_without_a_token_is_off():
    found = S.sources_from_config(x_bearer_token=None)
    assert list(found) == ["reddit", "news"]
    assert "x" not in S.sources_from_config(x_bearer_token="   ")
    with pytest.raises(ValueError):
        XClient("")


def test_sources_from_config_with_a_token():
    found = S.sources_from_config(x_bearer_token=TOKEN, subreddits=("Bitcoin",), feeds={"A": "http://127.0.0.1/a"})
    assert list(found) == ["reddit", "news", "x"]
    assert found["reddit"].subreddits == ("Bitcoin",)
    assert found["x"].config.base_url == "https://api.x.com"
    assert TOKEN not in repr(found)
    assert list(S.sources_from_config(reddit=False, feeds={})) == []


# --- Retries, timeouts, malformed answers --------------------------------------------------------------------


def test_429_with_retry_after_is_retried_after_the_stated_wait(server, config, fake_time):
    server.route(
        "/r/Bitcoin/search.json",
        Reply(429, b'{"message": "Too Many Requests", "error": 429}', {"Retry-After": "7"}),
        fixture("reddit_search.json"),
    )
    fetched = RedditClient(("Bitcoin",), config()).fetch("bitcoin", DAY_AGO)
    assert len(fetched.posts) == 13
    assert fake_time.sleeps == [7.0]
    assert len(server.hits("/r/Bitcoin/search.json")) == 2


def test_a_wait_longer_than_max_wait_gives_up_at_once(server, config, fake_time):
    server.route("/r/Bitcoin/search.json", Reply(429, b"{}", {"Retry-After": "900"}))
    with pytest.raises(SourceError) as caught:
        RedditClient(("Bitcoin",), config()).fetch("bitcoin", DAY_AGO)
    assert caught.value.code == "rate_limited"
    assert fake_time.sleeps == []
    assert len(server.hits("/r/Bitcoin/search.json")) == 1


def test_persistent_429_ends_rate_limited_with_the_wait(server, config):
    server.route(SEARCH, Reply(429, b"{}", {"Retry-After": "2"}))
    with pytest.raises(SourceError) as caught:
        XClient(TOKEN, config(max_retries=2)).fetch("bitcoin", DAY_AGO)
    assert (caught.value.code, caught.value.retry_after) == ("rate_limited", 2.0)
    assert len(server.hits(SEARCH)) == 3


def test_5xx_twice_then_success_backs_off_exponentially(server, config, fake_time):
    server.route(SEARCH, Reply(502), Reply(503), fixture("x_recent_search.json"))
    fetched = XClient(TOKEN, config()).fetch("bitcoin", DAY_AGO)
    assert len(fetched.posts) == 12
    assert fake_time.sleeps == [0.5, 1.0]


def test_persistent_5xx_is_unreachable(server, config, fake_time):
    server.route(SEARCH, Reply(500, b"oops"))
    with pytest.raises(SourceError) as caught:
        XClient(TOKEN, config(max_retries=2)).fetch("bitcoin", DAY_AGO)
    assert caught.value.code == "unreachable"
    assert len(server.hits(SEARCH)) == 3
    assert fake_time.sleeps == [0.5, 1.0]


def test_a_slow_server_is_a_timeout(server, config):
    server.route(SEARCH, Reply(200, b"{}", delay=1.0))
    started = time.monotonic()
    with pytest.raises(SourceError) as caught:
        XClient(TOKEN, config(timeout=0.2, max_retries=1, backoff=0.0)).fetch("bitcoin", DAY_AGO)
    assert caught.value.code == "timeout"
    assert len(server.hits(SEARCH)) == 2  # retried once
    assert time.monotonic() - started < 1.0


def test_a_closed_port_is_unreachable(config):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(SourceError) as caught:
        XClient(TOKEN, config(base_url=f"http://127.0.0.1:{port}", max_retries=1)).fetch("bitcoin", DAY_AGO)
    assert caught.value.code == "unreachable"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'{"data": [{"id": "1", "text": "truncated', 200),
        (b"[1, 2, 3]", 200),
        (b'{"errors": [{"message": "Invalid Request"}]}', 200),
        (b'{"title": "Invalid Request", "detail": "One or more parameters to your request was invalid."}', 400),
    ],
)
def test_malformed_x_answers_are_bad_responses(server, config, body, status):
    server.route(SEARCH, Reply(status, body, {"Content-Type": JSON}))
    with pytest.raises(SourceError) as caught:
        XClient(TOKEN, config()).fetch("bitcoin", DAY_AGO)
    assert caught.value.code == "bad_response"
    assert len(server.hits(SEARCH)) == 1


def test_a_body_over_max_bytes_is_refused(server, config):
    server.route(SEARCH, fixture("x_recent_search.json"))
    with pytest.raises(SourceError) as caught:
        XClient(TOKEN, config(max_bytes=1000)).fetch("bitcoin", DAY_AGO)
    assert caught.value.code == "bad_response"


# --- Rate limiter --------------------------------------------------------------------------------------------


def test_rate_limiter_spaces_requests(server, config, fake_time):
    for sub in ("Bitcoin", "ethereum", "solana"):
        server.route(f"/r/{sub}/search.json", fixture("reddit_search.json"))
    client = RedditClient(("Bitcoin", "ethereum", "solana"), config(min_interval=6.0))
    client.fetch("bitcoin", DAY_AGO)
    assert fake_time.sleeps == [6.0, 6.0]  # none before the first request

    fake_time.now += 4.0  # four seconds pass before the next fetch: two more to wait
    fake_time.sleeps.clear()
    client.fetch("bitcoin", DAY_AGO)
    assert fake_time.sleeps == [2.0, 6.0, 6.0]

    fake_time.now += 60.0
    fake_time.sleeps.clear()
    RedditClient(("Bitcoin",), config(min_interval=6.0)).fetch("bitcoin", DAY_AGO)
    assert fake_time.sleeps == []  # a new client, and the interval is long past anyway


# --- Queries and text ----------------------------------------------------------------------------------------


def test_query_for_each_source():
    assert S.query_for("BTC") == "bitcoin OR BTC"
    assert S.query_for("BTC/USDT", "x") == "bitcoin OR #bitcoin OR BTC OR #BTC"
    assert S.query_for("SHIBUSDT", "reddit") == '"shiba inu" OR SHIB'
    assert S.query_for("SHIB", "x") == '"shiba inu" OR SHIB OR #SHIB'
    assert S.query_for("ETH", "news") == ""
    assert S.query_for("PEPEUSDT") == "PEPE"
    with pytest.raises(ValueError):
        S.query_for("BTC", "telegram")


def test_strip_html():
    assert S.strip_html('<p style="x"><img src="a.jpg"></p><p>Rally &amp; more</p>') == "Rally & more"
    assert S.strip_html("<script>alert(1)</script>Plain<br>text") == "Plain text"
    assert S.strip_html("  no   tags ") == "no tags"


def test_parse_x_without_a_username_links_by_id():
    answer = json.loads((FIXTURES / "x_recent_search.json").read_text())
    answer.pop("includes")
    posts, token = S.parse_x(answer)
    assert posts[0].url == "https://x.com/i/web/status/1932401187453378912"
    assert posts[0].author == ""
    assert token
