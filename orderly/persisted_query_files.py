"""Documents to register, read from files: .graphql sources, Apollo's persisted-query manifest, Relay's map.

- A `.graphql` (or `.gql`) file is one document. Apollo Client sends the *printed* form of a
  document (graphql-js `print`, which graphql-core's `print_ast` follows), so both the file's
  text and its printed form are registered when they differ: clients sending either match.
- Apollo's manifest (`@apollo/generate-persisted-query-manifest`): `{"format":
  "apollo-persisted-query-manifest", "version": 1, "operations": [{"id", "name", "type",
  "body"}]}`; each id must be the SHA-256 of its body, the hash Apollo's link sends.
- Relay's persisted-query map (`relay-compiler` with `persistConfig`): `{"<id>": "<text>"}`;
  its ids are Relay's own, so each text is registered by its SHA-256.

Every document is parsed and validated against the served schema, within the document
limits, before anything is written: a file with one bad document registers nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson
from graphql import GraphQLError, GraphQLSchema, parse, print_ast, validate

from orderly.persisted_queries import document_hash
from resolvers.document_limits import DocumentLimits, text_bytes

APOLLO_FORMAT = "apollo-persisted-query-manifest"


class DocumentFileError(ValueError):
    """A file that cannot be registered; the message says which document and why."""


@dataclass(frozen=True)
class DocumentToRegister:
    """A document, its hash, and where it came from (for the command's output)."""

    sha256: str
    text: str
    origin: str


def read_documents(path: Path, schema: GraphQLSchema, limits: DocumentLimits) -> list[DocumentToRegister]:
    """The documents a file holds, each checked; raises DocumentFileError."""
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DocumentFileError(f"{path}: cannot be read ({error})") from None
    if path.suffix.lower() == ".json":
        texts = _manifest_texts(path, raw)
    else:
        texts = [(str(path), raw)]
    found: list[DocumentToRegister] = []
    for origin, text in texts:
        printed = _checked(origin, text, schema, limits)
        for variant in dict.fromkeys([text, printed]):
            found.append(DocumentToRegister(document_hash(variant), variant, origin))
    return found


def _manifest_texts(path: Path, raw: str) -> list[tuple[str, str]]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise DocumentFileError(f"{path}: not JSON ({error})") from None
    if isinstance(data, dict) and data.get("format") == APOLLO_FORMAT:
        if data.get("version") != 1:
            raise DocumentFileError(f"{path}: Apollo manifest version {data.get('version')!r}; only version 1 is known")
        operations = data.get("operations")
        if not isinstance(operations, list):
            raise DocumentFileError(f"{path}: an Apollo manifest needs an `operations` list")
        texts = []
        for index, operation in enumerate(operations):
            body = operation.get("body") if isinstance(operation, dict) else None
            if not isinstance(body, str):
                raise DocumentFileError(f"{path}: operations[{index}] has no string `body`")
            origin = f"{path}: {operation.get('name') or f'operations[{index}]'}"
            if operation.get("id") != document_hash(body):
                raise DocumentFileError(
                    f"{origin}: its id is not the SHA-256 of its body (a custom createOperationId?); "
                    "clients send that hash, so it cannot match"
                )
            texts.append((origin, body))
        return texts
    if isinstance(data, dict) and data and all(isinstance(text, str) for text in data.values()):
        return [(f"{path}: {key}", text) for key, text in data.items()]
    raise DocumentFileError(f"{path}: neither an Apollo persisted-query manifest nor a Relay map of id to text")


def _checked(origin: str, text: str, schema: GraphQLSchema, limits: DocumentLimits) -> str:
    """The printed form of a document that parses and validates within the limits."""
    if text_bytes(text) > limits.max_document_bytes:
        raise DocumentFileError(f"{origin}: over the document limit of {limits.max_document_bytes} bytes")
    try:
        document = parse(text, max_tokens=limits.max_tokens)
    except GraphQLError as error:
        raise DocumentFileError(f"{origin}: {error.message}") from None
    errors = validate(schema, document)
    if errors:
        raise DocumentFileError(f"{origin}: {errors[0].message}")
    return print_ast(document)
