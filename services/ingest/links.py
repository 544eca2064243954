"""``GET /l/{token}``: resolve a secure interview link to the original meeting URL.

A genuine, unexpired token gets a 302 to the meeting URL it was signed with, after publishing
``interview.link_opened`` to ``greenguard.protected-meetings`` (key: interview id). Any other
token gets a small HTML error page and never a redirect: 400 when it is malformed, 404 when its
signature matches no key, 410 when it expired. The page never repeats the token.

When Kafka does not acknowledge the audit record within ``publish_timeout_seconds``, the
candidate is still redirected and the failure is logged: joining the interview matters more
than the audit record. HEAD requests (link previews) are answered the same way but publish
nothing.
"""

from __future__ import annotations

import asyncio
import html

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from services.enricher.meetings import LINK_OPENED, SCHEMA_VERSION
from shared.errors import (
    BrokerUnavailableError,
    ExpiredLinkError,
    InvalidLinkError,
    TamperedLinkError,
)
from shared.events import isoformat, utc_now
from shared.kafka import Publisher
from shared.links import LinkClaims, verify_link
from shared.logging import get_logger
from shared.topics import PROTECTED_MEETINGS

log = get_logger(__name__)

# Kept from caches and from the Referer header sent to the meeting provider.
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
_PAGE_HEADERS = {**_HEADERS, "Content-Security-Policy": "default-src 'none'"}

_PAGES = {
    400: ("This link is not valid", "The link is incomplete or damaged."),
    404: ("This link is not valid", "This link was not issued for an interview."),
    410: (
        "This link has expired",
        "The interview this link was issued for is over or was rescheduled.",
    ),
}
_ADVICE = "Please use the most recent invitation you received, or contact your recruiter."


def link_routes(
    signing_keys: list[str], publisher: Publisher, *, publish_timeout_seconds: float = 2.0
) -> list[Route]:
    """Return the ``/l/{token}`` route, verifying tokens with any of ``signing_keys``."""
    keys = [key for key in signing_keys if key]
    if not keys:
        raise ValueError("link_routes needs at least one signing key")

    async def open_link(request: Request) -> Response:
        try:
            claims = verify_link(request.path_params["token"], keys, utc_now())
        except ExpiredLinkError as exc:
            log.info("secure_link_expired", interview_id=exc.interview_id)
            return error_page(410)
        except TamperedLinkError:
            log.warning("secure_link_rejected", reason="signature")
            return error_page(404)
        except InvalidLinkError as exc:
            log.warning("secure_link_rejected", reason=str(exc))
            return error_page(400)
        if request.method == "GET":
            await _record_opening(publisher, claims, publish_timeout_seconds)
        return RedirectResponse(claims.url, status_code=302, headers=_HEADERS)

    return [Route("/l/{token}", open_link, methods=["GET"])]


async def _record_opening(publisher: Publisher, claims: LinkClaims, timeout_seconds: float) -> None:
    document = {
        "schema_version": SCHEMA_VERSION,
        "type": LINK_OPENED,
        "interview_id": claims.interview_id,
        "candidate_id": claims.candidate_id,
        "opened_at": isoformat(utc_now()),
        "link_expires_at": isoformat(claims.expires_at),
    }
    try:
        async with asyncio.timeout(timeout_seconds):
            await publisher.publish(
                PROTECTED_MEETINGS, str(claims.interview_id), orjson.dumps(document)
            )
    except (BrokerUnavailableError, TimeoutError) as exc:
        log.warning(
            "link_opening_not_recorded",
            interview_id=claims.interview_id,
            error=type(exc).__name__,
        )
        return
    log.info(
        "secure_link_opened", interview_id=claims.interview_id, candidate_id=claims.candidate_id
    )


def error_page(status: int) -> HTMLResponse:
    """Return the HTML page for a link that cannot be followed."""
    title, reason = _PAGES[status]
    body = (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        '<body style="font-family:sans-serif;max-width:32em;margin:4em auto;padding:0 1em">'
        f"<h1>{html.escape(title)}</h1><p>{html.escape(reason)}</p>"
        f"<p>{html.escape(_ADVICE)}</p></body></html>"
    )
    return HTMLResponse(body, status_code=status, headers=_PAGE_HEADERS)
