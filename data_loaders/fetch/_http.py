"""The one HTTP client every venue module shares: retries, backoff, a polite request rate.

Built on urllib3 and its :class:`urllib3.util.Retry`, which already does what a downloader of
public market data needs: it honours ``Retry-After`` on 429 (and 503), backs off
exponentially with jitter on 5xx answers, timeouts and connection resets, and gives up after
a bounded number of attempts. This module adds a minimum interval between requests per client
(one client per venue), counters for the progress bar, and errors that name the URL.

Examples
--------
>>> from data_loaders.fetch._http import Client, Policy
>>> client = Client("http://127.0.0.1:1", policy=Policy(total=0, timeout=0.2))
>>> client.url("/v4/trades", {"limit": 5})
'http://127.0.0.1:1/v4/trades?limit=5'
"""
from __future__ import annotations

import functools
import json
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlencode

from ..validate import DataError

# urllib3 is imported when a client is made: `import data_loaders` stays as fast as it was

#: answers worth another attempt: rate limited, and the server-side failures that pass
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: characters of an unexpected body quoted in an error
QUOTED_BODY = 120
USER_AGENT = "l2perp-backtester data fetch (+https://pypi.org/project/l2perp-backtester/)"


class FetchError(ConnectionError):
    """A request that failed for good: after every retry, or with an answer no retry can fix
    (400, 403). The message names the URL, the attempts and the last error."""

    def __init__(self, url: str, message: str, status: int | None = None):
        self.url = url
        self.status = status
        super().__init__(f"{url}: {message}")


class NotFound(FetchError):
    """HTTP 404: the venue has no such resource (a Binance dump not published, a market the
    indexer does not know)."""


@dataclass(frozen=True)
class Policy:
    """How hard a client tries and how politely.

    Parameters
    ----------
    total : int
        Retries after the first attempt (connection errors, read errors and retried statuses
        together).
    backoff : float
        Seconds of the exponential backoff's base: waits of ``backoff * 2 ** (n - 1)``.
    backoff_max : float
        Longest wait between attempts (``Retry-After`` may ask for longer; it is honoured up
        to ``retry_after_max``).
    jitter : float
        Up to this many seconds added at random to each backoff, so that many clients that
        failed together do not come back together.
    timeout : float
        Seconds to connect, and seconds of silence while reading, before an attempt fails.
    rate : float
        Requests per second at most (the venue's polite rate); 0 for no limit.
    retry_after_max : float
        Longest ``Retry-After`` honoured, in seconds.

    Examples
    --------
    >>> Policy(backoff=0.001, backoff_max=0.01).retry().total
    5
    """

    total: int = 5
    backoff: float = 0.5
    backoff_max: float = 30.0
    jitter: float = 0.5
    timeout: float = 30.0
    rate: float = 5.0
    retry_after_max: float = 300.0

    def retry(self):
        """The urllib3 retry rule (``urllib3.util.Retry``) of this policy."""
        return _retry_class()(total=self.total, backoff_factor=self.backoff, backoff_max=self.backoff_max,
                     backoff_jitter=self.jitter, status_forcelist=RETRY_STATUSES,
                     # the info API of Hyperliquid reads with POST: every request here is a read
                     allowed_methods=frozenset({"GET", "POST", "HEAD"}),
                     respect_retry_after_header=True, retry_after_max=int(self.retry_after_max),
                     raise_on_status=True)


@functools.lru_cache(maxsize=None)  # one class, not one per request
def _retry_class():
    """urllib3's ``Retry``, except that a host name that does not resolve fails at once: no
    backoff brings DNS back (offline, each request would otherwise wait out every retry)."""
    from urllib3.exceptions import NameResolutionError
    from urllib3.util import Retry

    class _Retry(Retry):
        def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
            if isinstance(error, NameResolutionError) or isinstance(getattr(error, "__cause__", None),
                                                                     NameResolutionError):
                raise error
            return super().increment(method, url, response, error, _pool, _stacktrace)

    return _Retry


class Client:
    """HTTP client of one venue: base URL, retry policy, request rate and counters.

    Parameters
    ----------
    base_url : str
        Scheme, host and optional path prefix, e.g. ``https://indexer.dydx.trade``.
    policy : Policy, optional
        Retries, backoff, timeouts and rate (default :class:`Policy`).

    Attributes
    ----------
    requests, bytes : int
        Answers received and their body bytes (for progress bars).
    """

    def __init__(self, base_url: str, policy: Policy | None = None):
        self.base_url = base_url.rstrip("/")
        self.policy = policy or Policy()
        import urllib3

        self._pool = urllib3.PoolManager(headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip"})
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self.requests = 0
        self.bytes = 0

    def url(self, path: str, params: dict | None = None) -> str:
        """The full URL of ``path`` with query ``params`` (None values left out)."""
        query = urlencode({k: v for k, v in (params or {}).items() if v is not None})
        return f"{self.base_url}{path}" + (f"?{query}" if query else "")

    def _wait_turn(self) -> None:
        if self.policy.rate <= 0:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + 1.0 / self.policy.rate
        if slot > now:
            time.sleep(slot - now)

    def request(self, method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> bytes:
        """The body of a 2xx answer to ``method url``; retried per the policy.

        Raises
        ------
        NotFound
            On 404.
        FetchError
            On any other non-2xx answer, or when every attempt failed.
        """
        from urllib3.exceptions import HTTPError as Urllib3Error, NameResolutionError
        from urllib3.util import Timeout

        self._wait_turn()
        try:
            resp = self._pool.request(method, url, body=body, headers=headers, retries=self.policy.retry(),
                                      timeout=Timeout(connect=self.policy.timeout, read=self.policy.timeout),
                                      preload_content=True, redirect=True)
        except NameResolutionError as exc:  # not retried (see _retry_class)
            raise FetchError(url, f"the host name does not resolve (offline, or a wrong --base-url?): "
                             f"{exc}") from None
        except Urllib3Error as exc:
            reason = getattr(exc, "reason", None) or exc
            raise FetchError(url, f"failed after {self.policy.total + 1} attempts (retries with backoff; "
                             f"last error: {reason})") from None
        data = resp.data
        self.requests += 1
        self.bytes += len(data)
        if resp.status == 404:
            raise NotFound(url, "404 not found", status=404)
        if not 200 <= resp.status < 300:
            raise FetchError(url, f"HTTP {resp.status}: {_quote(data)}", status=resp.status)
        return data

    def get(self, path: str, params: dict | None = None) -> bytes:
        """GET ``path`` (relative to the base URL) and return the body."""
        return self.request("GET", self.url(path, params))

    def get_json(self, path: str, params: dict | None = None):
        """GET ``path`` and parse the body as JSON (a :class:`DataError` naming the URL if it is not)."""
        url = self.url(path, params)
        return parse_json(self.request("GET", url), url)

    def post_json(self, path: str, payload: dict):
        """POST ``payload`` as JSON to ``path`` and parse the JSON answer."""
        url = self.url(path)
        data = self.request("POST", url, body=json.dumps(payload).encode(),
                            headers={"Content-Type": "application/json"})
        return parse_json(data, f"{url} {json.dumps(payload, separators=(',', ':'))}")


def parse_json(data: bytes, source: str):
    """``data`` parsed as JSON, or a :class:`DataError` naming ``source`` and quoting the body.

    Examples
    --------
    >>> parse_json(b'{"a": 1}', "u")
    {'a': 1}
    """
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise DataError(source, f"expected a JSON body, got {len(data)} bytes: {_quote(data)}") from None


def _quote(data: bytes) -> str:
    text = data[:QUOTED_BODY].decode("utf-8", "replace")
    return repr(text) + ("..." if len(data) > QUOTED_BODY else "")


def expect(condition: bool, source: str, expected: str, got) -> None:
    """Raise a :class:`DataError` naming ``source`` (the URL) and what was expected, unless
    ``condition``.

    Examples
    --------
    >>> expect(True, "http://x/v4/trades", "a list under 'trades'", None)
    """
    if not condition:
        raise DataError(source, "unexpected response", value=_describe(got), expected=expected)


def _describe(value) -> str:
    if isinstance(value, dict):
        return f"an object with keys {sorted(value)[:10]}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return repr(value)[:QUOTED_BODY]
