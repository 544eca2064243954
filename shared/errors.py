"""The exception tree of Greenguard.

Every error the product raises on purpose derives from ``GreenguardError``. Each class states
whether retrying the same operation can succeed (``retriable``). Retry loops and the consumer
pipeline decide on that attribute, never on the message text.

    GreenguardError
    ├── ConfigurationError            invalid or missing settings (never retriable)
    ├── InvalidEventError             a record or payload that can never be processed
    │   └── UnknownActionError        a webhook action the mapping cannot route
    ├── InvalidLinkError              a secure meeting link token that is malformed
    │   ├── TamperedLinkError         its signature matches none of the signing keys
    │   └── ExpiredLinkError          it is genuine but past its expiry
    ├── BrokerUnavailableError        Kafka did not acknowledge a write in time (retriable)
    └── GreenhouseError               any failure talking to Greenhouse
        ├── GreenhouseAuthError       the token endpoint rejected the credentials
        ├── GreenhouseUnavailableError  transport error, 5xx or 429 after retries (retriable)
        │   └── GreenhouseRateLimitedError  429 after retries
        └── GreenhouseRequestError    a 4xx answer other than 401 and 429
            ├── GreenhouseForbiddenError    403: scope not granted or acting user not Site Admin
            ├── GreenhouseNotFoundError     404
            └── GreenhouseValidationError   422, with Greenhouse's ``errors`` list

Messages never contain secrets, tokens or candidate personal data: ids and field names only.
"""

from __future__ import annotations

from collections.abc import Sequence


class GreenguardError(Exception):
    """Base class; ``retriable`` is true when the same call may succeed later."""

    retriable: bool = False


class ConfigurationError(GreenguardError):
    """Raised at start-up when a setting is missing or invalid."""


class InvalidEventError(GreenguardError):
    """Raised when a record or webhook body can never be processed, whatever the retries."""


class UnknownActionError(InvalidEventError):
    """Raised when a webhook carries an action the routing table does not know."""

    def __init__(self, action: str) -> None:
        super().__init__(f"unknown webhook action {action!r}")
        self.action = action


class InvalidLinkError(GreenguardError):
    """Raised when a secure meeting link token cannot be decoded; the base of the link errors."""


class TamperedLinkError(InvalidLinkError):
    """Raised when a link token's signature matches none of the configured signing keys."""


class ExpiredLinkError(InvalidLinkError):
    """Raised when a genuine link token is past its expiry; ``interview_id`` names the interview."""

    def __init__(self, message: str, *, interview_id: int) -> None:
        super().__init__(message)
        self.interview_id = interview_id


class BrokerUnavailableError(GreenguardError):
    """Raised when Kafka did not acknowledge a write within the configured timeout."""

    retriable = True


class GreenhouseError(GreenguardError):
    """Base class for failures talking to Greenhouse; carries the method, path and status."""

    def __init__(
        self, message: str, *, method: str = "", path: str = "", status: int | None = None
    ) -> None:
        super().__init__(message)
        self.method = method
        self.path = path
        self.status = status


class GreenhouseAuthError(GreenhouseError):
    """Raised when the token endpoint rejects the client credentials (400 or 401)."""

    def __init__(self, message: str, *, error_code: str | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.error_code = error_code


class GreenhouseUnavailableError(GreenhouseError):
    """Raised when Greenhouse stayed unreachable, or kept responding with 5xx or 429."""

    retriable = True


class GreenhouseRateLimitedError(GreenhouseUnavailableError):
    """Raised when Greenhouse still responded with 429 after the bounded retries."""


class GreenhouseRequestError(GreenhouseError):
    """Raised at once for a 4xx response other than 401 and 429; retrying cannot help."""


class GreenhouseForbiddenError(GreenhouseRequestError):
    """Raised on 403: the endpoint's scope is not granted or the acting user is not Site Admin."""


class GreenhouseNotFoundError(GreenhouseRequestError):
    """Raised on 404."""


class GreenhouseValidationError(GreenhouseRequestError):
    """Raised on 422; ``errors`` contains Greenhouse's messages, each prefixed by its field if any."""

    def __init__(self, message: str, *, errors: Sequence[str] = (), **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.errors = list(errors)
