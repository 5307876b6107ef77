"""Crypto sentiment from posts (pure: no Django): scoring, entities, topics and the per-asset snapshot.

A **post** is one Reddit submission, one news-feed entry or one X post (``Post``). Every number below is computed
from the posts the sources returned; where there is no post there is no number (``None``), never an invented 0.

- **Post score** s in [-1, 1]: VADER's compound score (Hutto & Gilbert, 2014; its lexicon ships with the package,
  nothing is downloaded) of the post's title and the first 500 characters of its text, with VADER's lexicon
  extended by ``CRYPTO_LEXICON`` (crypto slang VADER does not know, e.g. "moon", "rekt"; a few phrases are first
  joined into one token: "rug pull" -> "rugpull", "all-time high" -> "ath"). A post is *positive* when
  s >= 0.05, *negative* when s <= -0.05 and *neutral* in between (VADER's own thresholds).
- **Relevant posts**: those that mention the asset (``mentions``: its names, tickers and cashtags, ``ASSETS``)
  and were published inside the window [now - window, now], both ends included. A post returned twice (same
  source and id) counts once.
- **Weight** of a post: w = 1 + ln(1 + e), e its engagement (Reddit: score + comments; X: likes + reposts +
  replies + quotes; news: 0, so a news entry weighs 1). The logarithm keeps one viral post from outweighing a
  hundred ordinary ones: e = 10 weighs 3.4, e = 1,000 weighs 7.9.
- **Source score** S_j = sum(w * s) / sum(w) over source j's relevant posts; its **volume** V_j is their count.
  S_j is None when V_j = 0.
- **Overall score** O = sum(V_j * S_j) / sum(V_j) over the sources with posts, clipped to [-1, 1]: each source
  counts by its volume, and inside a source each post by its engagement weight. None when no source has a post.
- **Trend**: the window cut into ``buckets`` equal intervals [start_i, start_i + window / buckets) (the last one
  also holds ``now``); each point is the overall score computed on that interval's posts alone (None when it has
  none) and its volume.
- **Impact** I = O * V / (V + E), in [-1, 1]: V is the total volume and E the volume to expect over the window,
  E = B * window / 24 h. B is the asset's baseline, the median daily volume of its previous snapshots (given by
  the caller; ``impact_basis`` "baseline"); without one, B = REFERENCE_DAILY_VOLUME = 100 posts a day, a fixed
  reference that is the same for every asset (``impact_basis`` "reference"). The volume factor V / (V + E) is
  1/2 at the usual volume, 2/3 at twice it, 3/4 at three times and near 0 on a quiet day: a mood carried by a
  few posts weighs little, the same mood on a busy day weighs more. |I| <= |O|, strictly less when E > 0 (a
  baseline of 0 posts a day makes the factor 1); None when O is None.
- **Headlines**: the (at most 5) most engaged relevant posts, newest first among equals, one per title.
- **Topics**: keyword clusters of the relevant posts. TF-IDF of title + text (sublinear term frequency; English
  stop words, asset names and tickers removed; terms found in at least 2 posts once there are 10 posts or
  more), then k-means on the unit-length rows (k from 2 to 5, the k with the best cosine silhouette, seed 0).
  Each topic gives its keywords (the 5 terms whose weight in the cluster centre most exceeds their mean weight
  over all the posts), its number of posts, the mean score s of those posts and up to 3 titles nearest the
  centre. Under 4 posts there are no topics; a cluster of one post is not a topic.

Why this file is long: the lexicon, the asset table and the numbers above are one vocabulary, each defined once
next to the code that computes it, so the README can quote this docstring as it stands.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np

SOURCES = ("reddit", "news", "x")
POSITIVE = 0.05  # s >= POSITIVE: a positive post (VADER's threshold)
NEGATIVE = -0.05  # s <= NEGATIVE: a negative post
SCORED_CHARS = 500  # of a post's text, after its title: long bodies saturate the compound score
REFERENCE_DAILY_VOLUME = 100.0  # posts a day: the impact's yardstick when the asset has no baseline yet
HEADLINES = 5
MIN_TOPIC_POSTS = 4
TOPIC_KEYWORDS = 5
TOPIC_EXAMPLES = 3
TOPIC_SEED = 0


class SentimentError(ValueError):
    """Input the sentiment core cannot answer; ``code`` names the case, the message says why."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Post:
    source: str  # "reddit", "news" or "x"
    id: str  # unique within the source
    title: str
    text: str
    url: str
    author: str
    published_at: datetime  # normalised to UTC; a naive datetime is refused
    engagement: float = 0.0  # reddit: score + comments; x: likes + reposts + replies + quotes; news: 0
    outlet: str = ""  # the subreddit or the feed's name

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise SentimentError(f"Unknown source {self.source!r}; one of {', '.join(SOURCES)}.", code="bad_source")
        if self.published_at.tzinfo is None or self.published_at.utcoffset() is None:
            raise SentimentError("A post's publication time needs a time zone.", code="naive_datetime")
        object.__setattr__(self, "published_at", self.published_at.astimezone(UTC))
        if not math.isfinite(self.engagement) or self.engagement < 0:
            raise SentimentError("Engagement is a count, at least 0.", code="bad_engagement")

    @property
    def content(self) -> str:
        return f"{self.title}\n{self.text}" if self.text else self.title


@dataclass(frozen=True)
class SourceIssue:
    """A source (or one feed or subreddit of it) that did not answer: shown with the snapshot, never hidden."""

    source: str
    code: str  # SourceError codes: unreachable, rate_limited, unauthorized, bad_response, timeout
    message: str
    outlet: str = ""


# --- Scoring -------------------------------------------------------------------------------------------------

# Valences on VADER's scale (-4 .. 4; VADER's own "good" is 1.9, "great" 3.1, "bad" -2.5, "scam" -2.7).
# Lower-case single tokens, as VADER looks them up (it splits on white space and strips outer punctuation, so
# "$BTC," is "btc" and "FUD!" is "fud"). Words whose crypto sense has no sign are left out on purpose: "long",
# "short", "red", "green", "whale", "halving", "etf" (an "ETF" is news, not a mood; "approval" already scores
# +2.1 in VADER, so "ETF approval" reads positive without help).
CRYPTO_LEXICON: dict[str, float] = {
    # Prices going up, or the crowd expecting them to: positive.
    **dict.fromkeys(("moon", "moonshot"), 2.0),
    "mooning": 2.5,
    "bullish": 2.2,
    "bull": 1.5,
    "bulls": 1.2,
    **dict.fromkeys(("rally", "rallies", "rallied", "rallying"), 1.9),
    **dict.fromkeys(("surge", "surges", "surged", "surging"), 1.9),
    **dict.fromkeys(("soar", "soars", "soared", "soaring"), 2.2),
    "breakout": 1.6,
    **dict.fromkeys(("rebound", "rebounds", "rebounded"), 1.5),
    "ath": 2.0,  # all-time high (the phrase is joined into "ath" first)
    "pump": 1.0,  # price pushed up; "pump and dump" is joined into "pumpdump" below
    **dict.fromkeys(("pumping", "pumped"), 1.2),
    # Conviction and community cheer: positive.
    **dict.fromkeys(("hodl", "hodling"), 1.2),
    "btfd": 1.5,  # "buy the dip": the dip is an opportunity
    "wagmi": 2.0,  # "we're all gonna make it"
    "lambo": 1.5,
    **dict.fromkeys(("adoption", "inflow", "inflows"), 1.3),
    "approves": 1.8,  # VADER has "approved" (1.8) and "approval" (2.1), not this form
    # Prices going down: negative.
    "bearish": -2.2,
    "bear": -1.5,
    "bears": -1.2,
    **dict.fromkeys(("dip", "dips"), -0.8),  # a small fall, only mildly negative; "buy the dip" is above
    **dict.fromkeys(("dump", "dumps", "dumping", "dumped"), -2.0),  # VADER: -1.6 (rubbish); here a heavy sell-off
    "pumpdump": -2.8,
    **dict.fromkeys(("crash", "crashes", "crashed", "crashing"), -2.5),
    **dict.fromkeys(("plunge", "plunges", "plunged", "plunging"), -2.2),
    **dict.fromkeys(("tank", "tanks", "tanked", "tanking"), -1.8),
    **dict.fromkeys(("slump", "slumps", "slumped", "selloff"), -1.8),
    **dict.fromkeys(("bleed", "bleeds", "bleeding"), -1.5),  # prices sliding day after day
    **dict.fromkeys(("outflow", "outflows"), -1.3),
    "liquidated": -2.2,
    **dict.fromkeys(("liquidation", "liquidations"), -1.8),
    # Losses, fear and despair: negative.
    "rekt": -2.8,  # "wrecked": lost most of a position
    "fud": -2.0,  # fear, uncertainty and doubt (VADER: -1.1)
    "fomo": -0.5,  # fear of missing out: said as a warning about froth, mildly negative
    "ngmi": -2.0,  # "not gonna make it"
    **dict.fromkeys(("bagholder", "bagholders"), -1.5),
    "capitulation": -2.0,
    "capitulate": -1.8,
    # Theft, fraud and failure: strongly negative.
    **dict.fromkeys(("rug", "rugged"), -2.8),
    "rugpull": -3.2,
    **dict.fromkeys(("scam", "scammed", "ponzi"), -3.0),
    **dict.fromkeys(("hack", "hacks", "hacked"), -2.5),
    **dict.fromkeys(("hacker", "hackers"), -2.0),
    **dict.fromkeys(("exploit", "exploited"), -2.5),  # VADER: -0.4 (to make use of); here a protocol drained
    "drain": -2.0,
    "drained": -2.5,
    **dict.fromkeys(("delist", "delisting"), -1.8),
    "delisted": -2.0,
    **dict.fromkeys(("insolvent", "insolvency"), -2.6),
}

# Phrases joined into one lexicon token before VADER reads the text (VADER only looks single tokens up).
PHRASES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\brug[\s-]+pull(?:s|ed)?\b", re.IGNORECASE), "rugpull"),
    (re.compile(r"\ball[\s-]+time[\s-]+highs?\b", re.IGNORECASE), "ath"),
    (re.compile(r"\bbuy(?:ing)?\s+the\s+dips?\b", re.IGNORECASE), "btfd"),
    (re.compile(r"\bpump[\s-]+(?:and|&|n)[\s-]+dumps?\b", re.IGNORECASE), "pumpdump"),
    (re.compile(r"\bsell[\s-]+offs?\b", re.IGNORECASE), "selloff"),
)


def prepared(text: str) -> str:
    """``text`` with the crypto phrases joined into their lexicon tokens."""
    for pattern, token in PHRASES:
        text = pattern.sub(token, text)
    return text


def scored_text(post: Post) -> str:
    """What a post is scored on: its title and the first SCORED_CHARS characters of its text (cut at a space)."""
    body = post.text.strip()
    if len(body) > SCORED_CHARS:
        cut = body[:SCORED_CHARS]
        body = cut[: cut.rfind(" ")] if " " in cut else cut
    return f"{post.title.strip()}\n{body}".strip()


class Scorer:
    """VADER with its lexicon extended by ``lexicon`` (``CRYPTO_LEXICON``; pass ``{}`` for plain VADER)."""

    def __init__(self, lexicon: Mapping[str, float] = CRYPTO_LEXICON) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._vader = SentimentIntensityAnalyzer()
        self._vader.lexicon.update(lexicon)

    def score(self, text: str) -> float:
        """VADER's compound score of ``text``, in [-1, 1]; 0.0 for an empty text."""
        text = prepared(text).strip()
        if not text:
            return 0.0
        return float(self._vader.polarity_scores(text)["compound"])

    def score_post(self, post: Post) -> float:
        return self.score(scored_text(post))


@lru_cache(maxsize=1)
def scorer() -> Scorer:
    """The shared scorer: reading VADER's lexicon file is the slow part, done once per process."""
    return Scorer()


def polarity(score: float) -> str:
    if score >= POSITIVE:
        return "positive"
    if score <= NEGATIVE:
        return "negative"
    return "neutral"


# --- Entities ------------------------------------------------------------------------------------------------

# Base asset -> the names and tickers that mention it. The matching rule (``mentions``):
# - an alias written in lower case matches in any case, on word boundaries ("eth" in "ETH," but not in
#   "method", "bitcoin" in "Bitcoin's" but not in "bitcoiners");
# - an alias written with capitals is an English word when lower-case ("sol", "dot", "link", "ton", "ada",
#   "pol", "ripple", "avalanche", "polygon", "tron"), so it matches only as written or in full capitals
#   ("SOL", "Ripple"/"RIPPLE"), and not at all in a text written entirely in capitals (a shouted "CLICK THE
#   LINK" is not Chainlink);
# - a cashtag ("$SOL", "$sol") of the ticker or of any one-word alias always matches.
# Known leftovers: "DOGE" is also the US Department of Government Efficiency, "ADA" a US law, "Ripple" at the
# start of a sentence may be the English word. "Binance" alone is the exchange, not BNB; "sats" is left out
# (SAT scores). Stable coins are not assets here.
ASSETS: dict[str, tuple[str, ...]] = {
    "BTC": ("bitcoin", "btc", "xbt"),
    "ETH": ("ethereum", "ether", "eth"),
    "SOL": ("solana", "SOL"),
    "BNB": ("binance coin", "bnb"),
    "XRP": ("xrp", "Ripple"),
    "DOGE": ("dogecoin", "doge"),
    "ADA": ("cardano", "ADA"),
    "AVAX": ("avax", "Avalanche"),
    "DOT": ("polkadot", "DOT"),
    "LINK": ("chainlink", "LINK"),
    "LTC": ("litecoin", "ltc"),
    "TRX": ("trx", "Tron"),
    "POL": ("matic", "POL", "Polygon"),
    "TON": ("toncoin", "TON"),
    "SHIB": ("shiba inu", "shib"),
}
RENAMED = {"XBT": "BTC", "MATIC": "POL"}  # old or exchange-specific tickers -> the base asset
QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "USD", "EUR", "KRW", "BTC", "ETH")  # longest first
_MULTIPLIER = re.compile(r"^(?:1000000|1000|1M)(?=[A-Z]{2,})")  # "1000SHIBUSDT": contracts on 1,000 units


def base_asset(symbol: str) -> str:
    """The base asset of a market symbol: "BTCUSDT", "BTC/USDT", "BTC/USDT:USDT", "btc-usd" -> "BTC".

    Without a separator the longest known quote currency is cut from the end (``QUOTES``); renamed tickers map to
    the asset ("XBTUSD" -> "BTC", "MATICUSDT" -> "POL"), and a futures multiplier goes ("1000SHIBUSDT" -> "SHIB").
    """
    text = symbol.strip().upper().split(":")[0]
    for sep in "/-_":
        if sep in text:
            text = text.split(sep)[0]
            break
    else:
        for quote in QUOTES:
            if text.endswith(quote) and len(text) > len(quote):
                text = text[: -len(quote)]
                break
    text = _MULTIPLIER.sub("", text)
    if not re.fullmatch(r"[A-Z0-9]{2,15}", text):
        raise SentimentError(f"{symbol!r} is not a market symbol.", code="bad_symbol")
    return RENAMED.get(text, text)


def _words(alias: str) -> str:
    return r"\s+".join(re.escape(word) for word in alias.split())


@lru_cache(maxsize=256)
def _matchers(asset: str) -> tuple[re.Pattern[str], re.Pattern[str] | None]:
    aliases = ASSETS.get(asset, (asset,))
    loose = [a for a in aliases if a == a.lower()]
    strict = sorted({form for a in aliases if a != a.lower() for form in (a, a.upper())})
    tags = sorted({asset, *(a for a in aliases if " " not in a), *(k for k, v in RENAMED.items() if v == asset)})
    branches = [r"(?<!\w)\$(?:" + "|".join(re.escape(t) for t in tags) + r")(?!\w)"]
    if loose:
        branches.append(r"(?<![\w$])(?:" + "|".join(_words(a) for a in loose) + r")(?!\w)")
    any_case = re.compile("|".join(branches), re.IGNORECASE)
    exact = re.compile(r"(?<![\w$])(?:" + "|".join(_words(a) for a in strict) + r")(?!\w)") if strict else None
    return any_case, exact


def _shouted(text: str) -> bool:
    """A text of at least three words with no lower-case letter at all."""
    return not any(ch.islower() for ch in text) and len(re.findall(r"[A-Za-z]{2,}", text)) >= 3


def mentions(text: str, asset: str) -> bool:
    """Whether ``text`` names ``asset`` (a base asset; one not in ASSETS matches as its ticker and cashtag)."""
    any_case, exact = _matchers(asset.upper())
    if any_case.search(text):
        return True
    return exact is not None and not _shouted(text) and exact.search(text) is not None


def entities(text: str) -> frozenset[str]:
    """The base assets of ``ASSETS`` that ``text`` mentions."""
    return frozenset(asset for asset in ASSETS if mentions(text, asset))


# --- Topics --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Topic:
    keywords: tuple[str, ...]  # the terms whose centre weight most exceeds their mean weight
    count: int  # posts in the cluster
    score: float  # mean post score s of those posts
    examples: tuple[str, ...]  # up to 3 titles nearest the centre


TERMS = r"(?u)\b[a-zA-Z][a-zA-Z]+\b"  # words of two letters or more; numbers and symbols are not topics
_EXTRA_STOP_WORDS = ("crypto", "cryptocurrency", "cryptocurrencies", "http", "https", "www", "com", "amp")


@lru_cache(maxsize=1)
def topic_stop_words() -> tuple[str, ...]:
    """English stop words, the one-word asset names and tickers, and a few words every crypto post has."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    names = {word.lower() for asset, aliases in ASSETS.items() for word in (asset, *aliases) if " " not in word}
    names |= {k.lower() for k in RENAMED}
    return tuple(sorted(set(ENGLISH_STOP_WORDS) | names | set(_EXTRA_STOP_WORDS)))


def topics(
    posts: Sequence[Post],
    *,
    scores: Sequence[float] | None = None,
    k: int | None = None,
    max_topics: int = 5,
) -> list[Topic]:
    """Keyword clusters of ``posts`` (see the module docstring), largest first; [] under MIN_TOPIC_POSTS posts.

    ``scores`` are the posts' scores when the caller has them already; ``k`` fixes the number of clusters.
    """
    if len(posts) < MIN_TOPIC_POSTS:
        return []
    if scores is None:
        scores = [scorer().score_post(post) for post in posts]
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import silhouette_score

    vectorizer = TfidfVectorizer(
        stop_words=list(topic_stop_words()),
        token_pattern=TERMS,
        min_df=2 if len(posts) >= 10 else 1,
        sublinear_tf=True,
        dtype=np.float64,
    )
    try:
        matrix = vectorizer.fit_transform([f"{p.title}\n{p.text}" for p in posts])
    except ValueError:  # nothing but stop words
        return []
    keep = np.flatnonzero(matrix.getnnz(axis=1))  # posts left with no term belong to no topic
    matrix = matrix[keep]
    rows = matrix.shape[0]
    if rows < MIN_TOPIC_POSTS or matrix.shape[1] < 2:
        return []
    candidates = [k] if k is not None else list(range(2, min(max_topics, rows - 1) + 1))
    best: tuple[float, Any] = (-2.0, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # fewer distinct posts than clusters
        for n in candidates:
            n = max(1, min(n, rows))
            model = KMeans(n_clusters=n, n_init=3, random_state=TOPIC_SEED).fit(matrix)
            found = len(set(model.labels_))
            quality = silhouette_score(matrix, model.labels_, metric="cosine") if 1 < found < rows else -1.0
            if quality > best[0]:
                best = (float(quality), model)
    model = best[1]
    terms = vectorizer.get_feature_names_out()
    everywhere = np.asarray(matrix.mean(axis=0)).ravel()
    result = []
    for label, centre in enumerate(model.cluster_centers_):
        members = np.flatnonzero(model.labels_ == label)
        if len(members) < 2:
            continue
        lift = centre - everywhere  # what sets the cluster apart, not what every post says
        order = np.argsort(-lift, kind="stable")
        keywords = tuple(str(terms[i]) for i in order[:TOPIC_KEYWORDS] if lift[i] > 0)
        closeness = np.asarray(matrix[members] @ centre).ravel()
        examples: list[str] = []
        for i in members[np.argsort(-closeness, kind="stable")]:
            title = posts[keep[i]].title.strip()
            if title and title not in examples:
                examples.append(title)
            if len(examples) == TOPIC_EXAMPLES:
                break
        mean = float(np.mean([scores[keep[i]] for i in members]))
        result.append(Topic(keywords=keywords, count=len(members), score=mean, examples=tuple(examples)))
    result.sort(key=lambda t: (-t.count, t.keywords))
    return result[:max_topics]


# --- Aggregation ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceScore:
    source: str
    score: float | None  # engagement-weighted mean post score; None without posts
    volume: int  # relevant posts
    positive: int
    negative: int
    neutral: int


@dataclass(frozen=True)
class TrendPoint:
    start: datetime  # the bucket covers [start, start + bucket)
    score: float | None  # the overall score on the bucket's posts; None when it has none
    volume: int


@dataclass(frozen=True)
class Headline:
    source: str
    title: str
    url: str
    outlet: str
    author: str
    published_at: datetime
    score: float
    engagement: float


@dataclass(frozen=True)
class Snapshot:
    asset: str
    as_of: datetime
    window_start: datetime
    window_seconds: int
    bucket_seconds: float
    status: str  # "ok", "no_posts" (sources asked, none mentions the asset), "no_sources" (none configured)
    message: str  # plain English, for logs; the page words its own from ``status``
    sources: tuple[SourceScore, ...]  # one per source asked, in SOURCES order, also those without posts
    overall: float | None
    volume: int
    impact: float | None
    impact_basis: str  # "baseline" (the asset's median daily volume) or "reference" (REFERENCE_DAILY_VOLUME)
    expected_volume: float  # E: posts to expect over the window
    baseline_volume: float | None
    trend: tuple[TrendPoint, ...]
    headlines: tuple[Headline, ...]
    topics: tuple[Topic, ...]
    issues: tuple[SourceIssue, ...]  # the sources, feeds or subreddits that did not answer

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: dataclasses as dicts, tuples as lists, datetimes as ISO 8601 strings."""
        return _plain(self)


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def weight(engagement: float) -> float:
    """A post's weight in its source's score: 1 + ln(1 + engagement)."""
    return 1.0 + math.log1p(engagement)


def source_score(source: str, scored: Sequence[tuple[Post, float]]) -> SourceScore:
    """The engagement-weighted mean score of one source's posts, with its counts."""
    labels = [polarity(s) for _, s in scored]
    score = None
    if scored:
        weights = [weight(post.engagement) for post, _ in scored]
        score = sum(w * s for w, (_, s) in zip(weights, scored, strict=True)) / sum(weights)
    return SourceScore(
        source=source,
        score=score,
        volume=len(scored),
        positive=labels.count("positive"),
        negative=labels.count("negative"),
        neutral=labels.count("neutral"),
    )


def overall_score(per_source: Iterable[SourceScore]) -> float | None:
    """The volume-weighted mean of the source scores, clipped to [-1, 1]; None when no source has a post."""
    present = [s for s in per_source if s.volume and s.score is not None]
    if not present:
        return None
    total = sum(s.volume for s in present)
    return min(1.0, max(-1.0, sum(s.volume * s.score for s in present if s.score is not None) / total))


def impact_score(overall: float | None, volume: int, expected: float) -> float | None:
    """O * V / (V + E): the overall score scaled by how busy the window was against the expected volume."""
    if overall is None or volume <= 0:
        return None
    return overall * (volume / (volume + max(expected, 0.0)))


def _by_source(scored: Sequence[tuple[Post, float]], names: Sequence[str]) -> list[SourceScore]:
    return [source_score(name, [(p, s) for p, s in scored if p.source == name]) for name in names]


def _headlines(scored: Sequence[tuple[Post, float]]) -> tuple[Headline, ...]:
    ranked = sorted(scored, key=lambda ps: (ps[0].engagement, ps[0].published_at, ps[0].id), reverse=True)
    seen: set[str] = set()
    picked = []
    for post, score in ranked:
        key = " ".join(post.title.casefold().split())
        if not key or key in seen:
            continue
        seen.add(key)
        picked.append(
            Headline(
                source=post.source,
                title=post.title,
                url=post.url,
                outlet=post.outlet,
                author=post.author,
                published_at=post.published_at,
                score=score,
                engagement=post.engagement,
            )
        )
        if len(picked) == HEADLINES:
            break
    return tuple(picked)


def snapshot(
    posts: Iterable[Post],
    *,
    asset: str,
    now: datetime,
    window: timedelta = timedelta(hours=24),
    buckets: int = 24,
    baseline_volume: float | None = None,
    sources: Iterable[str] | None = None,
    issues: Iterable[SourceIssue] = (),
    with_topics: bool = True,
    engine: Scorer | None = None,
) -> Snapshot:
    """The sentiment of ``asset`` (a base asset or a market symbol) over [now - window, now].

    ``sources`` are the sources that were asked (the configured ones); a source asked that returned nothing
    relevant shows with volume 0 and score None. ``None`` means the sources the posts come from; an empty list
    means none is configured, and the snapshot says so (status "no_sources") with no number at all. ``engine``
    scores the posts (the shared ``scorer()`` by default).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise SentimentError("The snapshot time needs a time zone.", code="naive_datetime")
    if window <= timedelta(0):
        raise SentimentError("The window must be longer than zero.", code="bad_window")
    if buckets < 1:
        raise SentimentError("The trend needs at least one bucket.", code="bad_buckets")
    if baseline_volume is not None and (not math.isfinite(baseline_volume) or baseline_volume < 0):
        raise SentimentError("The baseline volume is a number of posts, at least 0.", code="bad_baseline")
    asked = None if sources is None else list(sources)
    unknown = set(asked or ()) - set(SOURCES)
    if unknown:
        raise SentimentError(f"Unknown sources: {', '.join(sorted(unknown))}.", code="bad_source")
    asset = base_asset(asset)
    now = now.astimezone(UTC)
    start = now - window

    seen: set[tuple[str, str]] = set()
    relevant: list[Post] = []
    for post in posts:
        key = (post.source, post.id)
        if key in seen or (asked is not None and post.source not in asked):
            continue
        if start <= post.published_at <= now and mentions(post.content, asset):
            seen.add(key)
            relevant.append(post)
    relevant.sort(key=lambda p: (p.published_at, p.source, p.id))
    present = {p.source for p in relevant}
    names = [s for s in SOURCES if (s in asked if asked is not None else s in present)]
    engine = engine or scorer()
    scored = [(post, engine.score_post(post)) for post in relevant]

    per_source = _by_source(scored, names)
    overall = overall_score(per_source)
    volume = len(scored)
    days = window / timedelta(hours=24)
    basis = "reference" if baseline_volume is None else "baseline"
    expected = (REFERENCE_DAILY_VOLUME if baseline_volume is None else baseline_volume) * days

    width = window / buckets
    trend_posts: list[list[tuple[Post, float]]] = [[] for _ in range(buckets)]
    for post, score in scored:
        index = min((post.published_at - start) // width, buckets - 1)
        trend_posts[index].append((post, score))
    trend = tuple(
        TrendPoint(start=start + i * width, score=overall_score(_by_source(group, names)), volume=len(group))
        for i, group in enumerate(trend_posts)
    )

    if asked is not None and not asked:
        status, message = "no_sources", "No sentiment source is configured, so there is no sentiment to show."
    elif not scored:
        hours = window / timedelta(hours=1)
        status = "no_posts"
        message = f"No post mentioning {asset} in the last {hours:g} h from {', '.join(names) or 'any source'}."
    else:
        status, message = "ok", f"{volume} posts mentioning {asset} from {', '.join(names)}."
    found_topics: list[Topic] = []
    if with_topics and scored:
        found_topics = topics([p for p, _ in scored], scores=[s for _, s in scored])
    return Snapshot(
        asset=asset,
        as_of=now,
        window_start=start,
        window_seconds=int(window.total_seconds()),
        bucket_seconds=width.total_seconds(),
        status=status,
        message=message,
        sources=tuple(per_source),
        overall=overall,
        volume=volume,
        impact=impact_score(overall, volume, expected),
        impact_basis=basis,
        expected_volume=expected,
        baseline_volume=baseline_volume,
        trend=trend,
        headlines=_headlines(scored),
        topics=tuple(found_topics),
        issues=tuple(issues),
    )
