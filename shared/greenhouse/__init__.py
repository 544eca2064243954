"""Harvest V3 access: OAuth client credentials, rate-limit pacing and the list and write calls.

``HarvestClient`` is the entry point; one per process, created at start-up and closed once.
"""

from shared.greenhouse.auth import Introspection, Token, TokenManager
from shared.greenhouse.client import HarvestClient
from shared.greenhouse.query import MAX_IDS_PER_FILTER, MAX_PER_PAGE, build_params
from shared.greenhouse.ratelimit import RateBudget
from shared.greenhouse.responses import required_scope

__all__ = [
    "MAX_IDS_PER_FILTER",
    "MAX_PER_PAGE",
    "HarvestClient",
    "Introspection",
    "RateBudget",
    "Token",
    "TokenManager",
    "build_params",
    "required_scope",
]
