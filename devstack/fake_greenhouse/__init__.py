"""A strict fake of Greenhouse's OAuth server, Harvest V3 endpoints and webhook sender.

Run it on its own with ``python -m devstack.fake_greenhouse`` or in tests with
``FakeGreenhouse``; seed and inspect it through ``/admin`` or its ``state`` object.
"""

from devstack.fake_greenhouse.api import ALL_SCOPES
from devstack.fake_greenhouse.server import FakeGreenhouse, build_app
from devstack.fake_greenhouse.state import FakeConfig, FakeState
from devstack.fake_greenhouse.webhooks import encode_body, sign

__all__ = [
    "ALL_SCOPES",
    "FakeConfig",
    "FakeGreenhouse",
    "FakeState",
    "build_app",
    "encode_body",
    "sign",
]
