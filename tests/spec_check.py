"""Checks outgoing provider requests (and optionally responses) against the providers' OpenAPI files."""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import yaml
from jsonschema import FormatChecker
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from openapi_schema_validator import (
    OAS30Validator,
    OAS31Validator,
    oas30_format_checker,
    oas31_format_checker,
)
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4, DRAFT202012

SPEC_FILES: Mapping[str, str] = {
    "stackone": "stackone/ats.json",
    "kombo": "kombo/kombo-openapi.json",
    "unified_to": "unified/unified-to-full-openapi.yaml",
}
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*$")
_PARAM_RE = re.compile(r"\{([^}/]+)\}")


# --------------------------------------------------------------------------- locating + loading


def specs_dir() -> Path:
    """The provider-specs folder: env PROVIDER_SPECS_DIR, else shared/ beside the project checkout."""
    override = os.environ.get("PROVIDER_SPECS_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1].parent / "shared" / "provider-specs"


def _read_document(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return json.loads(text)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader


@cache
def load_spec(provider: str) -> dict[str, Any]:
    """The provider's OpenAPI document, parsed once per process, with our documented adjustments applied."""
    if provider not in SPEC_FILES:
        raise ValueError(f"unknown provider {provider!r}; expected one of {sorted(SPEC_FILES)}")
    document = _read_document(specs_dir() / SPEC_FILES[provider])
    if _is_oas31(document):
        _rewrite_nullable(document)
    if provider == "stackone":
        apply_stackone_overlay(document)
    return document


def _is_oas31(document: Mapping[str, Any]) -> bool:
    return str(document.get("openapi", "")).startswith("3.1")


# --------------------------------------------------------------------------- adjustments


def _rewrite_nullable(node: Any) -> None:
    """Give OAS 3.0's `nullable: true` its meaning inside a 3.1 document (JSON Schema 2020-12 ignores it).

    The StackOne file declares openapi 3.1.0 but was generated with 3.0 style `nullable: true`, and its
    docs show those fields as "string | null" (providers.md §1.3: "every field is nullable"). Without
    this rewrite OAS31Validator would reject every null that StackOne documents as allowed.
    """
    if isinstance(node, list):
        for item in node:
            _rewrite_nullable(item)
        return
    if not isinstance(node, dict):
        return
    for value in node.values():
        _rewrite_nullable(value)
    if node.get("nullable") is not True:
        return
    del node["nullable"]
    if "type" in node:
        types = node["type"] if isinstance(node["type"], list) else [node["type"]]
        node["type"] = [*types, "null"] if "null" not in types else types
        if "enum" in node and None not in node["enum"]:
            node["enum"] = [*node["enum"], None]
        return
    composite = {k: node.pop(k) for k in ("allOf", "oneOf", "anyOf", "$ref") if k in node}
    if composite:
        node["anyOf"] = [{"type": "null"}, composite]


# The copied StackOne spec is the Feb 2025 version (providers.md §0 SO-spec-2502); the live API is newer.
# Each line widens exactly one thing the newer API documents. Nothing else is loosened.
STACKONE_ENUM_OVERLAY: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    # providers.md §1.3 and §1.7: result.value enum grew (SO-spec-2512, SO-sdk
    # AtsUpdateCandidatesAssessmentsResultsRequestDtoValue).
    (("components", "schemas", "ResultEnum", "properties", "value"), ("initiated", "in_progress", "unmapped_value")),
    # providers.md §1.3 and §1.7: attachment content_type.value enum grew (SO-spec-2512, SO-sdk AttachmentValue).
    (("components", "schemas", "AttachmentContentType", "properties", "value"), ("pdf", "video", "other")),
)
# providers.md §1.1 and §1.7: the SDK (4.33.2+) sends an optional `Prefer: heartbeat` header on the result PATCH.
STACKONE_PREFER_HEADER: dict[str, Any] = {
    "name": "Prefer",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "enum": ["heartbeat"]},
}
STACKONE_PREFER_OPERATIONS = (("/unified/ats/assessments/orders/{id}/result", "patch"),)


def apply_stackone_overlay(document: dict[str, Any]) -> None:
    """Bring the Feb 2025 StackOne spec up to the current API (sources next to each overlay constant)."""
    for where, extra in STACKONE_ENUM_OVERLAY:
        node: Any = document
        for key in where:
            node = node[key]
        node["enum"] = [*node["enum"], *(value for value in extra if value not in node["enum"])]
    for template, method in STACKONE_PREFER_OPERATIONS:
        operation = document["paths"][template][method]
        operation["parameters"] = [*operation.get("parameters", []), STACKONE_PREFER_HEADER]


# --------------------------------------------------------------------------- schema validation


def _uri_format(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    if any(ch.isspace() for ch in instance):
        return False
    parts = urlsplit(instance)
    return bool(parts.scheme) and bool(_SCHEME_RE.match(parts.scheme)) and bool(parts.netloc or parts.path)


def _format_checker(oas31: bool) -> FormatChecker:
    base = oas31_format_checker if oas31 else oas30_format_checker
    checker = FormatChecker(formats=())
    checker.checkers = dict(base.checkers)
    checker.checks("uri")(_uri_format)
    return checker


def _spec_uri(provider: str) -> str:
    return f"urn:provider-spec:{provider}"


@cache
def _registry(provider: str) -> Registry:
    document = load_spec(provider)
    specification = DRAFT202012 if _is_oas31(document) else DRAFT4
    resource = Resource.from_contents(document, default_specification=specification)
    return Registry().with_resource(_spec_uri(provider), resource)


def _pointer(*segments: str) -> str:
    return "/" + "/".join(s.replace("~", "~0").replace("/", "~1") for s in segments)


@cache
def _validator_at(provider: str, pointer: str) -> Validator:
    """A validator for the schema at `pointer` inside the provider's document; $refs resolve against it."""
    oas31 = _is_oas31(load_spec(provider))
    cls = OAS31Validator if oas31 else OAS30Validator
    schema = {"$ref": f"{_spec_uri(provider)}#{pointer}"}
    return cls(schema, registry=_registry(provider), format_checker=_format_checker(oas31))


def _schema_errors(provider: str, pointer: str, instance: object, where: str) -> list[str]:
    validator = _validator_at(provider, pointer)
    errors = [leaf for error in validator.iter_errors(instance) for leaf in _leaf_errors(error)]
    errors.sort(key=lambda e: [str(p) for p in e.absolute_path])
    return list(dict.fromkeys(f"{where}{_json_path(e.absolute_path)}: {_short(e.message)}" for e in errors))


def _short(message: str, limit: int = 400) -> str:
    return message if len(message) <= limit else f"{message[:limit]}... ({len(message)} chars)"


def _is_null_branch(error: ValidationError) -> bool:
    return error.validator == "type" and error.validator_value == "null"


def _leaf_errors(error: ValidationError) -> list[ValidationError]:
    """Replace an anyOf/oneOf failure by its branches' errors (minus the `null` branch) when that is clearer."""
    branches = [e for e in error.context or () if not _is_null_branch(e)]
    if error.validator not in ("anyOf", "oneOf") or not branches:
        return [error]
    groups: dict[int, list[ValidationError]] = {}
    for branch in branches:
        groups.setdefault(branch.schema_path[0] if branch.schema_path else 0, []).append(branch)
    if len(groups) != 1:
        return [error]
    return [leaf for branch in next(iter(groups.values())) for leaf in _leaf_errors(branch)]


def _json_path(path: Any) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def _resolve(provider: str, node: Any) -> Any:
    """Follow local `$ref`s (for parameter objects and parameter schemas)."""
    document = load_spec(provider)
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
        target: Any = document
        for raw in node["$ref"][2:].split("/"):
            target = target[raw.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


# --------------------------------------------------------------------------- operations


@dataclass(frozen=True)
class Operation:
    """One OpenAPI operation found for a request."""

    provider: str
    template: str
    method: str
    path_params: tuple[tuple[str, str], ...]

    @property
    def node(self) -> dict[str, Any]:
        return load_spec(self.provider)["paths"][self.template][self.method]

    def pointer(self, *segments: str) -> str:
        return _pointer("paths", self.template, self.method, *segments)

    def parameters(self) -> list[tuple[dict[str, Any], str]]:
        """Path-level then operation-level parameters (operation wins), each with its JSON pointer."""
        found: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
        path_item = load_spec(self.provider)["paths"][self.template]
        sources = ((path_item.get("parameters", []), ("paths", self.template, "parameters")),
                   (self.node.get("parameters", []), ("paths", self.template, self.method, "parameters")))
        for params, base in sources:
            for index, raw in enumerate(params):
                param = _resolve(self.provider, raw)
                key = (param["in"], param["name"].lower() if param["in"] == "header" else param["name"])
                found[key] = (param, _pointer(*base, str(index)))
        return list(found.values())


@cache
def _path_patterns(provider: str) -> tuple[tuple[str, re.Pattern[str], int], ...]:
    patterns = []
    for template in load_spec(provider).get("paths", {}):
        regex = "".join(
            f"(?P<p{i}>[^/]+)" if i % 2 else re.escape(part)
            for i, part in enumerate(_PARAM_RE.split(template))
        )
        literal = len(_PARAM_RE.sub("", template))
        patterns.append((template, re.compile(f"^(?P<prefix>.*?){regex}$"), literal))
    return tuple(patterns)


def _match_templates(provider: str, path: str) -> list[tuple[str, dict[str, str]]]:
    """Templates matching `path` by suffix: shortest base-path prefix first, then the most literal."""
    hits = []
    for template, pattern, literal in _path_patterns(provider):
        match = pattern.match(path)
        if match is None:
            continue
        names = _PARAM_RE.findall(template)
        values = [unquote(match.group(f"p{2 * i + 1}")) for i in range(len(names))]
        hits.append((len(match.group("prefix")), -literal, template, dict(zip(names, values, strict=True))))
    hits.sort(key=lambda hit: (hit[0], hit[1]))
    return [(template, params) for _, _, template, params in hits]


def find_operation(provider: str, method: str, path: str) -> tuple[Operation | None, list[str]]:
    """The operation for method + path (any base-path prefix), or None and the reason."""
    method = method.lower()
    hits = _match_templates(provider, path)
    if not hits:
        return None, [f"{provider}: no path in the spec matches {path!r}"]
    paths = load_spec(provider)["paths"]
    for template, params in hits:
        if method in paths[template]:
            return Operation(provider, template, method, tuple(params.items())), []
    allowed = sorted({m.upper() for t, _ in hits for m in paths[t] if m in HTTP_METHODS})
    return None, [f"{provider}: {method.upper()} not allowed on {hits[0][0]!r} (spec allows {allowed})"]


# --------------------------------------------------------------------------- request checks


def _coerce(raw: str, schema: Mapping[str, Any]) -> object:
    """A query/header/path string as the JSON value its (simple) schema expects; unchanged if it doesn't fit."""
    types = schema.get("type")
    kinds = set(types) if isinstance(types, list) else {types}
    try:
        if "integer" in kinds and re.fullmatch(r"-?\d+", raw):
            return int(raw)
        if "number" in kinds:
            return float(raw)
    except ValueError:
        return raw
    if "boolean" in kinds and raw in ("true", "false"):
        return raw == "true"
    return raw


def _param_value(param: Mapping[str, Any], schema: Mapping[str, Any], raws: list[str]) -> object:
    types = schema.get("type")
    kinds = set(types) if isinstance(types, list) else {types}
    if "array" in kinds:
        explode = param.get("explode", param.get("style", "form") == "form")
        values = raws if explode else [v for raw in raws for v in raw.split(",")]
        items = _resolve_schema_items(schema)
        return [_coerce(v, items) for v in values]
    return _coerce(raws[-1], schema)


def _resolve_schema_items(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    items = schema.get("items", {})
    return items if isinstance(items, Mapping) else {}


def _check_parameters(op: Operation, request: httpx.Request) -> Iterator[str]:
    query = request.url.params
    path_values = dict(op.path_params)
    declared_query: set[str] = set()
    deep_objects: set[str] = set()
    for param, pointer in op.parameters():
        location, name = param["in"], param["name"]
        schema = _resolve(op.provider, param.get("schema", {}))
        where = f"{location} parameter {name!r}"
        if location == "query":
            declared_query.add(name)
            if param.get("style") == "deepObject" or schema.get("type") == "object":
                deep_objects.add(name)
                continue
            raws = query.get_list(name)
        elif location == "header":
            raws = request.headers.get_list(name)
        elif location == "path":
            raws = [path_values[name]] if path_values.get(name) else []
        else:
            continue
        if not raws:
            if param.get("required") or location == "path":
                yield f"missing required {where}"
            continue
        if "schema" in param:
            value = _param_value(param, schema, raws)
            yield from _schema_errors(op.provider, f"{pointer}/schema", value, where)
    for name in query:
        if name not in declared_query and name.split("[", 1)[0] not in deep_objects:
            yield f"query parameter {name!r} is not declared by {op.method.upper()} {op.template}"


def _security_requirements(op: Operation) -> list[dict[str, Any]]:
    if "security" in op.node:
        return list(op.node["security"])
    return list(load_spec(op.provider).get("security", []))


def _scheme_problem(scheme: Mapping[str, Any], request: httpx.Request) -> str | None:
    kind = scheme.get("type")
    if kind == "http":
        auth = request.headers.get("authorization", "")
        expected = str(scheme.get("scheme", "")).lower()
        prefix, _, credentials = auth.partition(" ")
        if prefix.lower() != expected or not credentials.strip():
            return f"needs 'Authorization: {expected.capitalize()} ...'"
        if expected == "basic" and not _valid_basic(credentials.strip()):
            return "Authorization: Basic must carry base64('username:password')"
        return None
    if kind == "apiKey":
        location, name = scheme.get("in"), str(scheme.get("name", ""))
        present = {
            "header": lambda: request.headers.get(name),
            "query": lambda: request.url.params.get(name),
            "cookie": lambda: name in request.headers.get("cookie", ""),
        }.get(str(location), lambda: None)()
        return None if present else f"needs API key {location} {name!r}"
    return f"unsupported security scheme type {kind!r}"


def _valid_basic(credentials: str) -> bool:
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return ":" in decoded


def _check_security(op: Operation, request: httpx.Request) -> Iterator[str]:
    requirements = _security_requirements(op)
    if not requirements:
        return
    schemes = load_spec(op.provider).get("components", {}).get("securitySchemes", {})
    reasons = []
    for requirement in requirements:
        found = {name: _scheme_problem(schemes.get(name, {}), request) for name in requirement}
        problems = [f"{name}: {problem}" for name, problem in found.items() if problem]
        if not problems:
            return
        reasons.append("; ".join(problems))
    yield "security not satisfied: " + " | ".join(reasons)


def _request_body(request: httpx.Request) -> bytes:
    try:
        return request.content
    except httpx.RequestNotRead:
        return request.read()


def _check_body(op: Operation, request: httpx.Request) -> Iterator[str]:
    content = _request_body(request)
    body_spec = _resolve(op.provider, op.node.get("requestBody"))
    if body_spec is None:
        if content:
            yield f"{op.method.upper()} {op.template} takes no request body, but one was sent"
        return
    if not content:
        if body_spec.get("required"):
            yield "request body is required but missing"
        return
    media = body_spec.get("content", {})
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if "application/json" not in media:
        yield f"spec declares no application/json body (only {sorted(media)})"
        return
    if content_type != "application/json":
        yield f"Content-Type is {content_type or 'missing'!r}, expected 'application/json'"
    try:
        body = json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        yield f"request body is not valid JSON: {exc}"
        return
    pointer = op.pointer("requestBody", "content", "application/json", "schema")
    if isinstance(op.node["requestBody"], dict) and "$ref" in op.node["requestBody"]:
        ref = op.node["requestBody"]["$ref"][1:]
        pointer = ref + _pointer("content", "application/json", "schema")
    yield from _schema_errors(op.provider, pointer, body, "body")


def request_problems(provider: str, request: httpx.Request) -> list[str]:
    """Every way `request` breaks the provider's spec (empty when it conforms)."""
    raw_path = request.url.raw_path.split(b"?", 1)[0].decode("ascii")
    op, problems = find_operation(provider, request.method, raw_path)
    if op is None:
        return problems
    checks: tuple[Callable[[Operation, httpx.Request], Iterator[str]], ...] = (
        _check_security, _check_parameters, _check_body,
    )
    return [problem for check in checks for problem in check(op, request)]


def assert_request_matches_spec(provider: str, request: httpx.Request) -> None:
    """Raise AssertionError listing every problem if `request` does not fit the provider's OpenAPI spec."""
    problems = request_problems(provider, request)
    if problems:
        lines = "\n  - ".join(problems)
        raise AssertionError(f"{request.method} {request.url} does not match the {provider} spec:\n  - {lines}")


# --------------------------------------------------------------------------- responses (optional helper)


def _response_pointer(op: Operation, status: int) -> tuple[str | None, list[str]]:
    responses = op.node.get("responses", {})
    for key in (str(status), f"{str(status)[0]}XX", "default"):
        if key in responses:
            response = responses[key]
            base = op.pointer("responses", key)
            if isinstance(response, dict) and "$ref" in response:
                base = response["$ref"][1:]
                response = _resolve(op.provider, response)
            if "application/json" not in response.get("content", {}):
                return None, []
            return base + _pointer("content", "application/json", "schema"), []
    return None, [f"status {status} is not declared for {op.method.upper()} {op.template}"]


def response_problems(provider: str, method: str, path: str, status: int, body: object) -> list[str]:
    """Every way a decoded JSON response body breaks the spec for that operation and status."""
    op, problems = find_operation(provider, method, path)
    if op is None:
        return problems
    pointer, problems = _response_pointer(op, status)
    if pointer is None:
        return problems
    return _schema_errors(provider, pointer, body, "response body")


def response_matches_spec(provider: str, method: str, path: str, status: int, body: object) -> None:
    """Raise AssertionError listing every problem if a response body does not fit the spec."""
    problems = response_problems(provider, method, path, status, body)
    if problems:
        lines = "\n  - ".join(problems)
        raise AssertionError(f"{status} response to {method} {path} does not match the {provider} spec:\n  - {lines}")
