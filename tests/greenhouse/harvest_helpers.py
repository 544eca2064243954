"""Helpers shared by the Harvest client tests."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from shared.greenhouse import HarvestClient

ClientFactory = Callable[..., HarvestClient]


class RecordingTransport(httpx.AsyncHTTPTransport):
    """A real HTTP transport that keeps every request URL and response's headers."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[httpx.URL] = []
        self.responses: list[httpx.Headers] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(request.url)
        response = await super().handle_async_request(request)
        self.responses.append(response.headers)
        return response
