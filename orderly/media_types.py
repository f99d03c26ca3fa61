"""Which GraphQL-over-HTTP response media type a client gets, from its Accept header."""

from __future__ import annotations

JSON = "application/json"
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"

_JSON_RANGES = {JSON: 3, "application/*": 2, "*/*": 1}  # more specific ranges win


def response_media_type(accept: str) -> str:
    """application/graphql-response+json when the client prefers it (ties go to it), else application/json.

    A missing Accept, `*/*` or anything that names neither type gets application/json, as the
    GraphQL-over-HTTP specification recommends; the common header costs one substring test.
    """
    if "graphql-response+json" not in accept.lower():
        return JSON
    graphql_q, json_q, json_rank = 0.0, 0.0, 0
    for media_range in accept.lower().split(","):
        name, _, parameters = media_range.partition(";")
        name = name.strip()
        q = _quality(parameters)
        if name == GRAPHQL_RESPONSE_JSON:
            graphql_q = max(graphql_q, q)
        elif _JSON_RANGES.get(name, 0) > json_rank:
            json_q, json_rank = q, _JSON_RANGES[name]
    return GRAPHQL_RESPONSE_JSON if graphql_q > 0 and graphql_q >= json_q else JSON


def _quality(parameters: str) -> float:
    for parameter in parameters.split(";"):
        key, _, value = parameter.partition("=")
        if key.strip() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0
