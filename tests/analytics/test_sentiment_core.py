"""The sentiment core on plain posts: the crypto lexicon, entities, symbols, the snapshot's numbers worked out by
hand, windows and trend buckets, the impact's bounds, and topics that separate two clearly different stories."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from analytics import sentiment as S
from analytics import sources
from analytics.sentiment import Post, SentimentError

FIXTURES = Path(__file__).parent / "fixtures" / "sentiment"
NOW = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)


def post(
    pid: str,
    title: str,
    *,
    source: str = "reddit",
    hours: float = 1.0,
    engagement: float = 0.0,
    text: str = "",
) -> Post:
    return Post(
        source=source,
        id=pid,
        title=title,
        text=text,
        url=f"https://example.org/{pid}",
        author="someone",
        published_at=NOW - timedelta(hours=hours),
        engagement=engagement,
        outlet="test",
    )


class FixedScores:
    """A scorer whose scores are set per post id: the snapshot's arithmetic checked on chosen numbers."""

    def __init__(self, scores: dict[str, float]) -> None:
        self.scores = scores

    def score_post(self, p: Post) -> float:
        return self.scores[p.id]


E1 = math.expm1(1.0)  # engagement whose weight 1 + ln(1 + e) is exactly 2
E2 = math.expm1(2.0)  # weight 3


# --- Scoring -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "sign"),
    [
        ("BTC going to the moon", 1),
        ("Bitcoin rallies to a new all-time high", 1),
        ("Solana rug pull wipes out investors", -1),
        ("got rekt, total FUD", -1),
        ("ETH is bearish here", -1),
    ],
)
def test_the_crypto_lexicon_changes_vaders_verdict(text, sign):
    crypto, plain = S.scorer().score(text), S.Scorer({}).score(text)
    assert crypto != plain
    assert crypto * sign >= S.POSITIVE
    if plain * sign > 0:  # VADER already leaned this way: the slang makes it stronger
        assert abs(crypto) > abs(plain)


def test_plain_vader_misses_the_slang():
    plain = S.Scorer({})
    assert plain.score("BTC going to the moon") == 0.0
    assert plain.score("Solana rug pull wipes out investors") == 0.0


def test_phrases_become_lexicon_tokens():
    assert S.prepared("a Rug Pull and an all-time high, buy the dip, pump and dump, sell-off") == (
        "a rugpull and an ath, btfd, pumpdump, selloff"
    )


def test_scores_stay_in_range_and_empty_text_is_neutral():
    assert S.scorer().score("") == 0.0
    assert S.scorer().score("   ") == 0.0
    extreme = "moon " * 50 + "WAGMI!!! bullish rally surge ATH"
    assert 0.9 < S.scorer().score(extreme) <= 1.0
    assert -1.0 <= S.scorer().score("scam hack rekt rugpull ponzi crash " * 20) < -0.9
    assert S.polarity(0.05) == "positive" and S.polarity(-0.05) == "negative" and S.polarity(0.049) == "neutral"


def test_a_post_is_scored_on_its_title_and_the_start_of_its_text():
    long = post("1", "Bitcoin update", text="word " * 200 + "scam scam scam")
    assert S.scored_text(long).endswith("word")
    assert len(S.scored_text(long)) <= len("Bitcoin update\n") + S.SCORED_CHARS
    assert S.scorer().score_post(long) == S.scorer().score(S.scored_text(long))


def test_the_scorer_is_shared():
    assert S.scorer() is S.scorer()


# --- Posts ---------------------------------------------------------------------------------------------------


def test_posts_refuse_naive_times_negative_engagement_and_unknown_sources():
    with pytest.raises(SentimentError) as caught:
        Post("reddit", "1", "t", "", "", "", datetime(2025, 6, 10, 12), 0.0)
    assert caught.value.code == "naive_datetime"
    with pytest.raises(SentimentError) as caught:
        post("1", "t", engagement=-1)
    assert caught.value.code == "bad_engagement"
    with pytest.raises(SentimentError) as caught:
        post("1", "t", source="telegram")
    assert caught.value.code == "bad_source"


def test_post_times_are_normalised_to_utc():
    seoul = datetime(2025, 6, 10, 21, 0, tzinfo=UTC).astimezone(__import__("zoneinfo").ZoneInfo("Asia/Seoul"))
    p = Post("news", "1", "t", "", "", "", seoul, 0.0)
    assert p.published_at.tzinfo is UTC and p.published_at.hour == 21


# --- Entities ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Bitcoin's price today", {"BTC"}),
        ("BTC/USDT breaks out", {"BTC"}),
        ("$btc and $ETH both up", {"BTC", "ETH"}),
        ("#Bitcoin to the moon", {"BTC"}),
        ("ETH-based tokens rally", {"ETH"}),
        ("Ether slides 4%", {"ETH"}),
        ("Solana outage again", {"SOL"}),
        ("SOL staking yields", {"SOL"}),
        ("$sol pumps", {"SOL"}),
        ("Polkadot parachain auction", {"DOT"}),
        ("DOT holders vote", {"DOT"}),
        ("Chainlink oracles", {"LINK"}),
        ("Ripple and the SEC settle", {"XRP"}),
        ("XRP lawsuit", {"XRP"}),
        ("Shiba  Inu burn rate", {"SHIB"}),
        ("$MATIC migrates to POL", {"POL"}),
        ("Polygon zkEVM", {"POL"}),
        ("Toncoin and TON wallets", {"TON"}),
        ("Avalanche subnets; AVAX up", {"AVAX"}),
        ("Cardano founder speaks", {"ADA"}),
        ("Litecoin and LTC miners", {"LTC"}),
        ("Dogecoin spikes", {"DOGE"}),
        ("BNB chain and Binance Coin", {"BNB"}),
        ("TRX and Tron", {"TRX"}),
    ],
)
def test_entities_find_names_tickers_and_cashtags(text, expected):
    assert S.entities(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "The method behind my strategy",  # eth inside a word
        "A solution for everyone",  # sol inside a word
        "sol y sombra",  # lower-case sol is Spanish, not Solana
        "Take the dot product",  # dot, the English word
        "Click the link below",  # link, the English word
        "CLICK THE LINK BELOW NOW",  # shouted: upper-case-only tickers do not count
        "A ton of paperwork",
        "The ripple effect of rates",
        "An avalanche of sell orders",
        "Draw a polygon",
        "Bitcoiners unite",  # a different word
        "Binance lists a new pair",  # the exchange, not BNB
        "Ethernet cables",
        "Rates and the ETF market",
    ],
)
def test_entities_ignore_the_ambiguous_words(text):
    assert S.entities(text) == frozenset()


def test_mentions_an_asset_outside_the_table_by_ticker_and_cashtag():
    assert S.mentions("$pepe to the moon", "PEPE")
    assert S.mentions("PEPE holders", "PEPE")
    assert not S.mentions("Pepe the frog", "PEPE")
    assert S.entities("$PEPE") == frozenset()  # entities() lists the known assets only


@pytest.mark.parametrize(
    ("symbol", "base"),
    [
        ("BTCUSDT", "BTC"),
        ("BTC/USDT", "BTC"),
        ("BTC/USDT:USDT", "BTC"),
        ("btc-usd", "BTC"),
        ("ETH_USDC", "ETH"),
        ("ETHBTC", "ETH"),
        ("SOLFDUSD", "SOL"),
        ("XRPKRW", "XRP"),
        ("ADAEUR", "ADA"),
        ("XBTUSD", "BTC"),
        ("MATICUSDT", "POL"),
        ("1000SHIBUSDT", "SHIB"),
        ("BTC", "BTC"),
        ("USDCUSDT", "USDC"),
    ],
)
def test_base_asset(symbol, base):
    assert S.base_asset(symbol) == base


@pytest.mark.parametrize("symbol", ["", "/USDT", "B", "BTC USDT!"])
def test_base_asset_refuses_what_is_not_a_symbol(symbol):
    with pytest.raises(SentimentError) as caught:
        S.base_asset(symbol)
    assert caught.value.code == "bad_symbol"


# --- Snapshot ------------------------------------------------------------------------------------------------


def hand_set() -> tuple[list[Post], FixedScores]:
    posts = [
        post("r1", "Bitcoin one", source="reddit", hours=1, engagement=0),  # w = 1
        post("r2", "Bitcoin two", source="reddit", hours=2, engagement=E1),  # w = 2
        post("n1", "Bitcoin three", source="news", hours=3),  # w = 1
        post("e1", "Ethereum only", source="news", hours=1),  # not about BTC
    ]
    return posts, FixedScores({"r1": 0.9, "r2": -0.3, "n1": 0.5, "e1": -1.0})


def test_snapshot_arithmetic_by_hand():
    posts, engine = hand_set()
    snap = S.snapshot(posts, asset="BTCUSDT", now=NOW, sources=["reddit", "news", "x"], engine=engine)

    reddit, news, x = snap.sources
    assert reddit.source == "reddit" and reddit.volume == 2
    assert reddit.score == pytest.approx((1 * 0.9 + 2 * -0.3) / 3)  # 0.1
    assert (reddit.positive, reddit.negative, reddit.neutral) == (1, 1, 0)
    assert news.score == pytest.approx(0.5) and news.volume == 1
    assert (x.source, x.score, x.volume) == ("x", None, 0)

    overall = (2 * 0.1 + 1 * 0.5) / 3
    assert snap.overall == pytest.approx(overall)
    assert snap.volume == 3
    assert snap.asset == "BTC" and snap.status == "ok"
    assert snap.impact_basis == "reference" and snap.expected_volume == pytest.approx(100.0)
    assert snap.impact == pytest.approx(overall * 3 / (3 + 100))

    with_baseline = S.snapshot(posts, asset="BTC", now=NOW, baseline_volume=6, engine=engine)
    assert with_baseline.impact_basis == "baseline"
    assert with_baseline.impact == pytest.approx(overall * 3 / (3 + 6))
    half_day = S.snapshot(posts, asset="BTC", now=NOW, window=timedelta(hours=12), baseline_volume=6, engine=engine)
    assert half_day.expected_volume == pytest.approx(3.0)
    assert half_day.impact == pytest.approx(overall / 2)  # the usual volume: the factor is 1/2


def test_weights_grow_with_the_log_of_engagement():
    assert S.weight(0) == 1.0
    assert S.weight(E1) == pytest.approx(2.0)
    assert S.weight(E2) == pytest.approx(3.0)
    assert S.weight(1000) == pytest.approx(1 + math.log(1001))


def test_no_posts_means_no_number():
    _, engine = hand_set()
    snap = S.snapshot([], asset="BTC", now=NOW, sources=["reddit", "news"], engine=engine)
    assert snap.status == "no_posts"
    assert snap.overall is None and snap.impact is None and snap.volume == 0
    assert [s.score for s in snap.sources] == [None, None]
    assert all(point.score is None and point.volume == 0 for point in snap.trend)
    assert snap.headlines == () and snap.topics == ()
    assert "No post mentioning BTC" in snap.message


def test_no_configured_source_says_so():
    posts, engine = hand_set()
    snap = S.snapshot(posts, asset="BTC", now=NOW, sources=[], engine=engine)
    assert snap.status == "no_sources"
    assert snap.sources == () and snap.overall is None and snap.impact is None and snap.volume == 0
    assert "No sentiment source is configured" in snap.message


def test_sources_not_asked_are_left_out():
    posts, engine = hand_set()
    snap = S.snapshot(posts, asset="BTC", now=NOW, sources=["news"], engine=engine)
    assert [s.source for s in snap.sources] == ["news"]
    assert snap.overall == pytest.approx(0.5)


def test_the_window_keeps_both_ends_and_nothing_outside():
    posts = [
        post("edge-start", "Bitcoin at the start", hours=24),
        post("too-old", "Bitcoin just before", hours=24 + 1 / 3600),
        post("edge-now", "Bitcoin right now", hours=0),
        post("future", "Bitcoin from the future", hours=-0.5),
        post("dup", "Bitcoin twice", hours=3),
        post("dup", "Bitcoin twice", hours=3),
    ]
    engine = FixedScores({p.id: 0.2 for p in posts})
    snap = S.snapshot(posts, asset="BTC", now=NOW, engine=engine)
    assert snap.volume == 3  # the two edges and the duplicate once
    assert snap.window_start == NOW - timedelta(hours=24)
    assert snap.trend[0].volume == 1 and snap.trend[-1].volume == 1


def test_trend_buckets():
    posts = [
        post("a", "Bitcoin a", hours=3.5),  # bucket 0: [08:00, 09:00)
        post("b", "Bitcoin b", hours=3.0, engagement=E1),  # 09:00 exactly: bucket 1
        post("c", "Bitcoin c", hours=2.5),  # bucket 1
        post("d", "Bitcoin d", hours=0.0),  # now: the last bucket
    ]
    engine = FixedScores({"a": -0.4, "b": 0.6, "c": 0.0, "d": 0.3})
    snap = S.snapshot(posts, asset="BTC", now=NOW, window=timedelta(hours=4), buckets=4, engine=engine)
    assert [p.start for p in snap.trend] == [NOW - timedelta(hours=h) for h in (4, 3, 2, 1)]
    assert [p.volume for p in snap.trend] == [1, 2, 0, 1]
    assert snap.trend[0].score == pytest.approx(-0.4)
    assert snap.trend[1].score == pytest.approx((2 * 0.6 + 0.0) / 3)
    assert snap.trend[2].score is None
    assert snap.trend[3].score == pytest.approx(0.3)
    assert snap.bucket_seconds == 3600


def test_impact_stays_inside_the_overall_score():
    rng = np.random.default_rng(7)
    for _ in range(300):
        overall = float(rng.uniform(-1, 1))
        volume = int(rng.integers(1, 10_000))
        expected = [0.0, 0.5, float(rng.uniform(0, 5000))][int(rng.integers(0, 3))]
        impact = S.impact_score(overall, volume, expected)
        assert impact is not None
        assert -1 < impact < 1 or (expected == 0 and abs(impact) == abs(overall))
        assert abs(impact) <= abs(overall)
        assert impact * overall >= 0
    assert S.impact_score(None, 10, 5) is None
    assert S.impact_score(1.0, 1, 100) == pytest.approx(1 / 101)


def test_impact_of_a_unanimous_busy_day_stays_below_one():
    posts = [post(str(i), "Bitcoin", hours=i / 100, engagement=10) for i in range(50)]
    snap = S.snapshot(
        posts, asset="BTC", now=NOW, baseline_volume=10, engine=FixedScores({str(i): 1.0 for i in range(50)})
    )
    assert snap.overall == pytest.approx(1.0)
    assert 0.8 < snap.impact < 1.0


def test_headlines_are_the_most_engaged_one_per_title():
    posts = [post(str(i), f"Bitcoin story {i}", engagement=i * 10, hours=i / 10) for i in range(8)]
    posts.append(post("copy", "Bitcoin story 7", source="news", hours=0.1))  # the same title again
    engine = FixedScores({p.id: 0.1 for p in posts})
    snap = S.snapshot(posts, asset="BTC", now=NOW, engine=engine)
    assert [h.title for h in snap.headlines] == [f"Bitcoin story {i}" for i in (7, 6, 5, 4, 3)]
    assert snap.headlines[0].engagement == 70 and snap.headlines[0].score == 0.1


def test_as_dict_is_plain_json():
    posts, engine = hand_set()
    data = S.snapshot(posts, asset="BTC", now=NOW, engine=engine).as_dict()
    text = json.dumps(data)
    assert data["as_of"] == "2025-06-10T12:00:00+00:00"
    assert data["trend"][0]["start"] == "2025-06-09T12:00:00+00:00"
    assert isinstance(data["sources"], list) and data["sources"][0]["source"] == "reddit"
    assert data["headlines"][0]["published_at"].endswith("+00:00")
    assert json.loads(text) == data


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"now": datetime(2025, 6, 10, 12)}, "naive_datetime"),
        ({"window": timedelta(0)}, "bad_window"),
        ({"buckets": 0}, "bad_buckets"),
        ({"baseline_volume": -1.0}, "bad_baseline"),
        ({"sources": ["reddit", "telegram"]}, "bad_source"),
        ({"asset": "!!"}, "bad_symbol"),
    ],
)
def test_snapshot_refuses_bad_input(kwargs, code):
    args = {"asset": "BTC", "now": NOW, **kwargs}
    with pytest.raises(SentimentError) as caught:
        S.snapshot([], **args)
    assert caught.value.code == code


def test_snapshot_of_the_recorded_fixtures():
    reddit = sources.parse_reddit(json.loads((FIXTURES / "reddit_search.json").read_text()))
    news = [
        *sources.parse_feed((FIXTURES / "coindesk.xml").read_bytes(), outlet="CoinDesk"),
        *sources.parse_feed((FIXTURES / "cointelegraph.xml").read_bytes(), outlet="CoinTelegraph"),
        *sources.parse_feed((FIXTURES / "atom.xml").read_bytes(), outlet="Example Desk"),
    ]
    x, _ = sources.parse_x(json.loads((FIXTURES / "x_recent_search.json").read_text()))
    everything = [*reddit, *news, *x]

    btc = S.snapshot(everything, asset="BTC", now=NOW, sources=["reddit", "news", "x"])
    volumes = {s.source: s.volume for s in btc.sources}
    assert volumes == {"reddit": 8, "news": 8, "x": 12}  # the ETH-, SOL- and off-topic posts are left out
    assert btc.status == "ok" and -1 <= btc.overall <= 1
    assert sum(p.volume for p in btc.trend) == btc.volume == 28
    assert len(btc.headlines) == 5 and btc.headlines[0].title.startswith("Bitcoin just broke $110k")
    assert btc.topics and all(t.count >= 2 for t in btc.topics)
    json.dumps(btc.as_dict())

    sol = S.snapshot(everything, asset="SOLUSDT", now=NOW, sources=["reddit", "news", "x"])
    assert {s.source: s.volume for s in sol.sources} == {"reddit": 2, "news": 2, "x": 1}


# --- Topics --------------------------------------------------------------------------------------------------

ETF = [
    "SEC approves spot bitcoin ETF applications from major issuers",
    "Spot ETF approval brings record inflows to bitcoin funds",
    "BlackRock ETF sees billion dollar inflows after SEC approval",
    "Analysts expect more ETF approvals as spot fund inflows grow",
    "Fidelity spot ETF approval lifts bitcoin fund inflows",
    "ETF inflows hit record as SEC approval opens the door to funds",
    "Grayscale converts trust to spot ETF after SEC approval",
    "Spot bitcoin ETF approval: what the SEC decision means for funds",
    "Record inflows into spot ETF products after approval",
    "SEC approval of ETF options adds to bitcoin fund inflows",
    "Issuers cut ETF fees after the SEC approval",
    "Pension funds buy spot ETF shares after approval",
    "ETF approval week: inflows and fund flows explained",
    "Spot ETF inflows top expectations in first week after approval",
    "SEC approval sparks a race among ETF issuers for inflows",
]
HACK = [
    "Exchange hack: attackers drain hot wallet of bitcoin",
    "Hackers steal funds from exchange hot wallet in major exploit",
    "Exchange halts withdrawals after hack drains hot wallet",
    "Stolen funds from the exchange hack moved through mixers",
    "Exchange hack victims wait as withdrawals stay paused",
    "Security firm traces hackers behind the exchange exploit",
    "Hot wallet exploit: exchange promises to cover stolen funds",
    "Exchange confirms hack, stolen bitcoin moved to attacker wallets",
    "Withdrawals paused after exchange hot wallet drained by hackers",
    "Exchange hack losses climb as attackers drain more wallets",
    "Hackers exploit exchange wallet bug, funds stolen",
    "Exchange hack: users demand answers on stolen funds",
    "Attackers behind exchange exploit launder stolen bitcoin",
    "Exchange reopens withdrawals weeks after hot wallet hack",
    "Police arrest suspects in exchange hack of stolen funds",
]


def two_stories() -> list[Post]:
    posts = []
    for i, (etf, hack) in enumerate(zip(ETF, HACK, strict=True)):
        posts.append(post(f"etf{i}", etf, hours=i / 2))
        posts.append(post(f"hack{i}", hack, hours=i / 2 + 0.25))
    return posts


def test_topics_separate_two_clearly_different_stories():
    posts = two_stories()
    found = S.topics(posts)
    assert len(found) >= 2
    etf_words, hack_words = {"etf", "approval", "inflows", "spot", "sec"}, {"hack", "exchange", "stolen", "wallet"}
    etf_topic = next(t for t in found if set(t.keywords) & etf_words)
    hack_topic = next(t for t in found if set(t.keywords) & hack_words)
    assert not set(etf_topic.keywords) & hack_words
    assert not set(hack_topic.keywords) & etf_words
    assert set(etf_topic.examples) <= set(ETF) and set(hack_topic.examples) <= set(HACK)
    assert sum(t.count for t in found) == 30
    assert "bitcoin" not in {k for t in found for k in t.keywords}  # asset names are not topics
    assert all(len(t.keywords) <= 5 and 1 <= len(t.examples) <= 3 for t in found)
    assert hack_topic.score < etf_topic.score  # theft reads worse than an approval


def test_topics_are_deterministic():
    posts = two_stories()
    assert S.topics(posts) == S.topics(posts) == S.topics(list(posts))


def test_few_posts_make_no_topics():
    assert S.topics(two_stories()[:3]) == []
    assert S.topics([post(str(i), "the and of", hours=i) for i in range(6)]) == []  # nothing but stop words


def test_topics_of_a_full_page_of_posts():
    """500 posts (a source's page): the two stories are found (no time limit here: a timed test fails on a busy
    machine; about 0.1 s when measured by hand)."""
    rng = np.random.default_rng(3)
    titles = rng.choice(ETF + HACK, size=500)
    suffixes = rng.choice(["today", "again", "update"], size=500)
    posts = [post(f"p{i}", f"{title} {suffix}") for i, (title, suffix) in enumerate(zip(titles, suffixes, strict=True))]
    found = S.topics(posts, scores=[0.0] * len(posts))
    assert len(found) >= 2
