"""The interface of one faked protocol family: its routes, its key scheme, its error envelopes.

Each family module (``replicate.py``, ``cometapi.py``, ``fal.py``, ``openai_images.py``) defines
a ``MockFamily`` and ``families.py`` lists them: the app mounts every family's routes, the key
check reads its scheme, and an injected fault is answered in its envelope, so nothing else in
the mock asks which family it serves. The defaults are Replicate's (problem+json, docs/protocol.md).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from . import responses
from .faults import FaultConfig, HttpFault


class MockFamily(ABC):
    """One protocol family of the fake API (a provider's routes and answers)."""

    name: str
    """The family's name, as predictions record who made them ("replicate", "fal", ...)."""
    auth_scheme: str = "bearer"
    """The word before the key in ``Authorization``, lower case (fal's is "key")."""

    @abstractmethod
    def routes(self) -> list[Route]:
        """The family's API routes, to mount at the server's root."""

    # -- answers in the family's envelope ---------------------------------------------------

    def unauthenticated(self) -> JSONResponse:
        """401; never mentions the key that was sent."""
        return responses.problem(
            401, "Unauthenticated", "You did not pass a valid authentication token"
        )

    def not_found(self, what: str) -> JSONResponse:
        """404 for an unknown model, route or job id."""
        return responses.problem(404, "Not found", f"The requested {what} could not be found.")

    def bad_request(self, detail: str) -> JSONResponse:
        """400 for a body that is not JSON."""
        return responses.problem(400, "Bad request", detail)

    def rate_limited(self, message: str, headers: dict[str, str]) -> JSONResponse:
        """429 with the Retry-After and ratelimit headers."""
        return JSONResponse({"detail": message}, status_code=429, headers=headers)

    def no_credit(self) -> JSONResponse:
        """402: the account cannot pay for the generation."""
        return responses.problem(
            402, "Insufficient credit", "You have insufficient credit to run this model."
        )

    def refused_request(self) -> JSONResponse:
        """The answer to a caller's mistake (the ``create_errors`` fault): not retryable."""
        # CometAPI answers some caller mistakes with 500 + code invalid_request; the
        # predictions routes of both hosts answer it so.
        return responses.cometapi_error(
            500, "invalid request: mock create_errors", code="invalid_request"
        )

    def server_error(self, status: int, phrase: str) -> JSONResponse:
        """A 5xx from the API itself (not a proxy's HTML page)."""
        return JSONResponse({"detail": phrase}, status_code=status)

    def fault_response(self, fault: HttpFault, faults: FaultConfig) -> Response:
        """The answer for an injected API fault (create or query)."""
        if fault.kind == "rate_limited":
            seconds = responses.seconds_text(faults.retry_after)
            message = f"Request was throttled. Your rate limit resets in ~{seconds}s."
            headers = {
                "Retry-After": seconds,
                "ratelimit-remaining": "0",
                "ratelimit-reset": seconds,
            }
            return self.rate_limited(message, headers)
        if fault.kind == "insufficient_credit":
            return self.no_credit()
        if fault.kind == "invalid_request":
            return self.refused_request()
        if fault.kind == "html":
            return responses.proxy_page(fault.status)
        if fault.kind == "redirect":
            return RedirectResponse("/mock/elsewhere", status_code=302)
        return self.server_error(fault.status, responses.phrase(fault.status))

    # -- the file host ----------------------------------------------------------------------

    def file_refusal(self, request: Request) -> Response | None:
        """How the family's CDN refuses a download of one of its outputs, or None to serve it."""
        return None
