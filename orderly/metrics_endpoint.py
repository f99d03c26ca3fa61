"""GET /metrics on the API's port: off unless ORDERLY_METRICS=on, and for admins only when
authentication is on (Prometheus sends the token with `authorization: credentials_file`).

With authentication off the API serves only a loopback host (orderly serve refuses any
other unless ORDERLY_AUTH=off, see orderly/auth/settings.py): /metrics is then as open as /graphql. The route
is outside the rate limit (which covers /graphql only): a refused scrape is a gap in every
graph. Answers carry no customer or order ids (see resolvers/operation_metrics.py).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from orderly.auth.authenticator import Authenticator
from orderly.metrics_exporter import MetricsExporter
from schema.errors import UnauthenticatedError
from schema.principal import Role

PATH = "/metrics"
FORBIDDEN = "Metrics are for the admin role"


def metrics_route(exporter: MetricsExporter, authenticator: Authenticator) -> Route:
    """The /metrics route for this exporter, guarded by the API's authenticator."""

    async def metrics(request: Request) -> Response:
        if authenticator.enabled:
            try:
                principal = await authenticator.from_header(request.headers.get("authorization"))
            except UnauthenticatedError as error:
                challenge = 'Bearer error="invalid_token"' if request.headers.get("authorization") else "Bearer"
                return PlainTextResponse(str(error), status_code=401, headers={"WWW-Authenticate": challenge})
            if Role.ADMIN not in principal.roles:
                return PlainTextResponse(FORBIDDEN, status_code=403)
        body, media_type = await exporter.render(request.headers.get("accept"))
        return Response(body, media_type=media_type, headers={"Cache-Control": "no-store"})

    return Route(PATH, metrics, methods=["GET"])
