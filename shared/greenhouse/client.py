"""The Harvest V3 client: one ``httpx.AsyncClient``, one token and one rate budget per process.

Every request goes through the same steps: take the cached token (minting one if needed), wait
for the rate budget, send, and translate the response. A 401 mints a new token once and sends
once more. 429, 5xx and transport errors are retried with jittered exponential backoff, up to
``GREENHOUSE_MAX_ATTEMPTS`` attempts in all. A 429 also delays every caller of the process for
its ``Retry-After``. Any other 4xx raises a typed error at once (see ``shared.errors``).
``create_note`` is the exception, because a note cannot be created idempotently. A time-out or
a 5xx may follow a note that Greenhouse did create, so it raises at once. The caller retries,
and it can look for the note first.

List calls follow the ``Link: <...>; rel="next"`` URL verbatim, so a request with ``cursor``
carries no other query parameter, as Greenhouse requires.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from shared.errors import (
    GreenguardError,
    GreenhouseAuthError,
    GreenhouseError,
    GreenhouseRateLimitedError,
    GreenhouseRequestError,
    GreenhouseUnavailableError,
)
from shared.greenhouse.auth import Introspection, Token, TokenManager
from shared.greenhouse.metrics import HARVEST_REQUEST_SECONDS, HARVEST_REQUESTS
from shared.greenhouse.query import MAX_PER_PAGE, batched, build_params, validate_resource
from shared.greenhouse.ratelimit import RateBudget
from shared.greenhouse.responses import decode_json, error_for_response, retry_after_seconds
from shared.logging import get_logger
from shared.settings import GreenhouseSettings

log = get_logger(__name__)

T = TypeVar("T")

# Used when a 429 carries no Retry-After header.
DEFAULT_RETRY_AFTER_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0


def _is_retriable(exc: BaseException) -> bool:
    return isinstance(exc, GreenguardError) and exc.retriable


def _surely_not_applied(exc: BaseException) -> bool:
    """Return whether a retriable failure shows that Greenhouse did not apply the request."""
    if isinstance(exc, GreenhouseRateLimitedError):
        return True
    # A connection that was never opened carried no request.
    return isinstance(exc.__cause__, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def endpoint_label(method: str, path: str) -> str:
    """Return the metrics label of a request: the method and the path with ids as ``{id}``."""
    segments = ["{id}" if segment.isdigit() else segment for segment in path.split("/")]
    return f"{method} {'/'.join(segments)}"


class HarvestClient:
    """Async client for the Harvest V3 endpoints the integration uses; returns decoded JSON."""

    def __init__(
        self,
        settings: GreenhouseSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        budget: RateBudget | None = None,
        max_attempts: int | None = None,
        backoff_seconds: float = 0.5,
    ) -> None:
        self._settings = settings
        self._api_url = httpx.URL(settings.greenhouse_api_url.rstrip("/") + "/")
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=settings.greenhouse_timeout_seconds,
            headers={"Accept": "application/json", "User-Agent": "greenguard"},
            follow_redirects=False,
        )
        self.tokens = TokenManager(settings, self._http)
        self.budget = budget or RateBudget(settings.greenhouse_rate_limit_share)
        self._max_attempts = max_attempts or settings.greenhouse_max_attempts
        self._backoff_seconds = backoff_seconds
        # Harvest requests sent, every attempt counted; token requests are not included.
        self.request_count = 0

    def __repr__(self) -> str:
        return f"HarvestClient(api_url={str(self._api_url)!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool; safe to call twice."""
        await self._http.aclose()

    # Reading

    async def iterate(
        self, resource: str, *, per_page: int = MAX_PER_PAGE, **filters: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield every record of a list endpoint, page after page.

        ``filters`` are spelt as Greenhouse spells them: lists of ids are joined with commas
        (at most 50), an ``(start, end)`` tuple of datetimes becomes ``gte|start|lte|end``,
        booleans become ``true``/``false`` and other values are sent as they are.
        """
        url = self._api_url.join(validate_resource(resource))
        params: dict[str, str] | None = build_params(filters, per_page=per_page)
        while True:
            response = await self._request("GET", url, params=params)
            for record in _json_list(response):
                yield record
            next_url = response.links.get("next", {}).get("url")
            if not next_url:
                return
            url = self._checked_next_url(response.url.join(next_url))
            params = None

    async def list_all(self, resource: str, **filters: Any) -> list[dict[str, Any]]:
        """Return every record of a list endpoint, all pages read."""
        return [record async for record in self.iterate(resource, **filters)]

    async def get_by_ids(
        self, resource: str, ids: Iterable[int], *, id_param: str = "ids", **filters: Any
    ) -> list[dict[str, Any]]:
        """Return the records whose ``id_param`` matches ``ids``, 50 ids per request.

        With ``id_param="candidate_ids"`` on ``applications``, for example, this returns the
        applications of those candidates. Duplicate ids are sent once.
        """
        unique = list(dict.fromkeys(ids))
        records: list[dict[str, Any]] = []
        for batch in batched(unique):
            records += await self.list_all(resource, **{id_param: list(batch)}, **filters)
        return records

    # Writing

    async def update_candidate(self, candidate_id: int, body: dict[str, Any]) -> dict[str, Any]:
        """Update a candidate (``PATCH /candidates/{id}``) and return it as Greenhouse shows it.

        Custom fields go as ``{"custom_fields": [{"name_key": ..., "value": ...}]}`` with
        select values given as option ids.
        """
        return await self._write("PATCH", f"candidates/{int(candidate_id)}", body)

    async def create_custom_field(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a custom field; the result includes its options with their ids."""
        return await self._write("POST", "custom_fields", body)

    async def update_custom_field(self, field_id: int, body: dict[str, Any]) -> dict[str, Any]:
        """Update a custom field (adding options, for example) and return it with its options."""
        return await self._write("PATCH", f"custom_fields/{int(field_id)}", body)

    async def create_note(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a note on a candidate (``POST /notes``) and return it.

        Raises GreenhouseUnavailableError without sending again when the outcome is unknown
        (a time-out or a 5xx): the note may exist, and sending it again would duplicate it.
        """
        return await self._write("POST", "notes", body, resend_when_unsure=False)

    # Credentials

    async def token(self) -> Token:
        """Return a valid access token, minting one if needed (retried like any request)."""
        path = httpx.URL(self._settings.greenhouse_token_url).path
        return await self._with_retries(self.tokens.token, "POST", path)

    async def introspect(self) -> Introspection:
        """Return what the introspection endpoint reports about the current token."""
        token = await self.token()
        path = httpx.URL(self._settings.greenhouse_introspect_url).path
        return await self._with_retries(lambda: self.tokens.introspect(token), "POST", path)

    async def token_scopes(self) -> frozenset[str]:
        """Return the scopes granted to the credential.

        Introspection is authoritative; the token response's ``scope`` is used only when the
        introspection endpoint cannot be reached or refuses the call.
        """
        token = await self.token()
        try:
            introspection = await self.introspect()
        except (GreenhouseRequestError, GreenhouseUnavailableError):
            if token.scopes is None:
                raise
            return token.scopes
        if not introspection.active:
            raise GreenhouseAuthError("the introspection endpoint reports the new token inactive")
        return introspection.scopes

    # Plumbing

    async def _write(
        self, method: str, path: str, body: dict[str, Any], *, resend_when_unsure: bool = True
    ) -> dict[str, Any]:
        # NOTE: with resend_when_unsure, a create that Greenhouse applied before a time-out or
        # a 5xx is sent again and may be applied twice. Custom field creation tolerates that
        # (the second gets 422 and the field is looked up), notes do not.
        response = await self._request(
            method, self._api_url.join(path), json=body, resend_when_unsure=resend_when_unsure
        )
        document = decode_json(response)
        if not isinstance(document, dict):
            # A proxy or gateway page in place of Harvest's response: worth retrying later.
            raise GreenhouseUnavailableError(
                f"{method} {response.url.path} returned {response.status_code} without a JSON "
                "object",
                method=method,
                path=response.url.path,
                status=response.status_code,
            )
        return document

    async def _request(
        self,
        method: str,
        url: httpx.URL,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
        resend_when_unsure: bool = True,
    ) -> httpx.Response:
        reminted = False

        async def send() -> httpx.Response:
            nonlocal reminted
            token = await self.tokens.token()
            response = await self._send_once(method, url, token, params, json)
            if response.status_code == 401 and not reminted:
                # A newer token minted elsewhere may have revoked this one: mint once more.
                reminted = True
                log.info("harvest_token_rejected", method=method, path=url.path)
                token = await self.tokens.replace_rejected(token)
                response = await self._send_once(method, url, token, params, json)
            if response.status_code == 429:
                await self.budget.pause(
                    retry_after_seconds(response.headers) or DEFAULT_RETRY_AFTER_SECONDS
                )
            if not response.is_success:
                raise error_for_response(response)
            return response

        return await self._with_retries(
            send, method, url.path, resend_when_unsure=resend_when_unsure
        )

    async def _send_once(
        self,
        method: str,
        url: httpx.URL,
        token: Token,
        params: dict[str, str] | None,
        json: dict[str, Any] | None,
    ) -> httpx.Response:
        label = endpoint_label(method, url.path)
        await self.budget.acquire()
        headers: httpx.Headers | None = None
        started = time.perf_counter()
        self.request_count += 1
        try:
            response = await self._http.request(
                method,
                url,
                params=params,
                json=json,
                headers={"Authorization": token.authorization},
            )
            headers = response.headers
        except httpx.TransportError as exc:
            HARVEST_REQUESTS.labels(endpoint=label, status="error").inc()
            raise GreenhouseUnavailableError(
                f"Harvest is unreachable on {method} {url.path} ({type(exc).__name__})",
                method=method,
                path=url.path,
            ) from exc
        finally:
            await self.budget.release(headers)
        HARVEST_REQUESTS.labels(endpoint=label, status=str(response.status_code)).inc()
        HARVEST_REQUEST_SECONDS.labels(endpoint=label).observe(time.perf_counter() - started)
        return response

    async def _with_retries(
        self,
        operation: Callable[[], Awaitable[T]],
        method: str,
        path: str,
        *,
        resend_when_unsure: bool = True,
    ) -> T:
        def log_retry(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.warning(
                "harvest_request_retry",
                method=method,
                path=path,
                attempt=state.attempt_number,
                max_attempts=self._max_attempts,
                error=type(error).__name__,
                status=getattr(error, "status", None),
                wait_seconds=round(state.upcoming_sleep, 3),
            )

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._max_attempts),
            wait=wait_exponential_jitter(
                multiplier=self._backoff_seconds,
                max=MAX_BACKOFF_SECONDS,
                jitter=self._backoff_seconds,
            ),
            retry=retry_if_exception(
                lambda exc: _is_retriable(exc) and (resend_when_unsure or _surely_not_applied(exc))
            ),
            before_sleep=log_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await operation()
        raise AssertionError("tenacity stopped without returning or raising")

    def _checked_next_url(self, url: httpx.URL) -> httpx.URL:
        # The bearer token must only ever go to the configured Harvest origin.
        if (url.scheme, url.netloc) != (self._api_url.scheme, self._api_url.netloc):
            raise GreenhouseError(
                f"the Link header points to another origin ({url.scheme}://"
                f"{url.netloc.decode('ascii')}); refusing to send the token there",
                method="GET",
                path=url.path,
            )
        return url


def _json_list(response: httpx.Response) -> list[dict[str, Any]]:
    document = decode_json(response)
    if not isinstance(document, list) or not all(isinstance(item, dict) for item in document):
        raise GreenhouseUnavailableError(
            f"GET {response.url.path} returned {response.status_code} with something other "
            "than a JSON array of objects",
            method="GET",
            path=response.url.path,
            status=response.status_code,
        )
    return document
