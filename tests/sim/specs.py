"""The providers' public specs as JSON Schema validators, for checking simulator answers.

A spec's 200 response schema is taken for the matching path, its ``$ref``s inlined and OpenAPI's
``nullable: true`` turned into ``anyOf [..., null]``; the result is checked with
``jsonschema.Draft4Validator`` (OpenAPI 3.0 and Swagger 2.0 schemas are Draft-4 dialects).

Where a spec disagrees with the README's documented observation (``../shared/upstream/README.md``),
the README wins: :func:`patched` relaxes exactly that point, and each relaxation says why.

Besides the schema, :func:`unknown_keys` reports properties the schema does not declare, so a
misspelt or invented field is caught even though the specs allow additional properties; each
provider lists the observed extras it may send.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

VENDORED = Path(__file__).parent / "specs"
# The workspace's research folder: next to the repository, absent from a clean clone.
SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "upstream" / "specs"
SPEC_FILES = ("spotify-openapi-fixed.yml", "ticketmaster-discovery-v2.json", "setlistfm-1.0.json")

_DROP = {"description", "example", "examples", "title", "deprecated", "position", "xml"}


def spec_path(name: str) -> Path:
    for folder in (VENDORED, SHARED):
        if (folder / name).is_file():
            return folder / name
    pytest.skip(f"{name} is in neither {VENDORED} nor {SHARED}: no spec to validate against")


@functools.cache
def load(name: str) -> dict[str, Any]:
    text = spec_path(name).read_text(encoding="utf-8")
    if name.endswith(".yml"):
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        spec: dict[str, Any] = yaml.load(text, Loader=loader)
        return spec
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def sha256_listed_in_sources() -> dict[str, str]:
    """The sha256 column of SOURCES.md's table, by file name."""
    text = spec_path("SOURCES.md").read_text(encoding="utf-8")
    return dict(re.findall(r"^\| ([\w.-]+) \| [\d,]+ \| ([0-9a-f]{64}) \|", text, re.M))


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pointer(spec: dict[str, Any], ref: str) -> Any:
    node: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        key = part.replace("~1", "/").replace("~0", "~")
        node = node[int(key)] if isinstance(node, list) else node[key]
    return node


def inline(spec: dict[str, Any], node: Any, *, openapi3: bool, stack: tuple[str, ...] = ()) -> Any:
    if isinstance(node, list):
        return [inline(spec, item, openapi3=openapi3, stack=stack) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:  # siblings of $ref are ignored, as both specs' dialects say
        ref = node["$ref"]
        if ref in stack:
            return {}  # a recursive definition: accept anything below this point
        return inline(spec, pointer(spec, ref), openapi3=openapi3, stack=(*stack, ref))
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):  # names, not keywords: keep them all
            out[key] = {
                name: inline(spec, sub, openapi3=openapi3, stack=stack)
                for name, sub in value.items()
            }
        elif key not in _DROP and not key.startswith("x-"):
            out[key] = inline(spec, value, openapi3=openapi3, stack=stack)
    if openapi3 and out.pop("nullable", False):
        return {"anyOf": [out, {"type": "null"}]}
    return out


def patched(name: str, changes: dict[str, Any]) -> dict[str, Any]:
    """A copy of the spec with ``changes`` applied: JSON pointer -> new value (None deletes a
    key)."""
    spec = copy.deepcopy(load(name))
    for ref, value in changes.items():
        parent_ref, _, leaf = ref.rpartition("/")
        parent = pointer(spec, parent_ref)
        if isinstance(parent, list):
            parent[int(leaf)] = value
        elif value is None:
            parent.pop(leaf, None)
        else:
            parent[leaf] = value
    return spec


class Checker:
    """Validates instances against one schema and reports undeclared keys.

    ``allowed_extras`` names undeclared keys that may appear: ``"key"`` anywhere, or
    ``"parent.key"`` under a property called ``parent``.
    """

    def __init__(self, schema: dict[str, Any], allowed_extras: frozenset[str] = frozenset()):
        jsonschema.Draft4Validator.check_schema(schema)
        self.schema = schema
        self.validator = jsonschema.Draft4Validator(schema)
        self.allowed_extras = allowed_extras

    def check(self, instance: Any, what: str = "") -> None:
        errors = [
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}"
            for e in self.validator.iter_errors(instance)
        ]
        assert not errors, f"{what}: {len(errors)} schema error(s): {errors[:5]}"
        extra = list(unknown_keys(self.schema, instance, "$", self.allowed_extras))
        assert not extra, f"{what}: keys the spec does not declare: {extra[:10]}"


def _properties(schema: dict[str, Any]) -> dict[str, Any] | None:
    found = "properties" in schema
    merged: dict[str, Any] = dict(schema.get("properties", {}))
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(key, []):
            nested = _properties(sub)
            if nested is not None:
                found = True
                merged.update(nested)
    return merged if found else None


def _items(schema: dict[str, Any]) -> dict[str, Any] | None:
    if isinstance(schema.get("items"), dict):
        items: dict[str, Any] = schema["items"]
        return items
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(key, []):
            if (nested := _items(sub)) is not None:
                return nested
    return None


def _last(path: str) -> str:
    return re.sub(r"\[\d+\]$", "", path).rpartition(".")[2]


def unknown_keys(
    schema: dict[str, Any], value: Any, path: str, allowed: frozenset[str]
) -> Iterator[str]:
    if isinstance(value, dict):
        declared = _properties(schema)
        if declared is None:
            return  # a free-form object
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            if key in declared:
                yield from unknown_keys(declared[key], item, f"{path}.{key}", allowed)
            elif isinstance(additional, dict):
                yield from unknown_keys(additional, item, f"{path}.{key}", allowed)
            elif key not in allowed and f"{_last(path)}.{key}" not in allowed:
                yield f"{path}.{key}"
    elif isinstance(value, list):
        items = _items(schema)
        if items is not None:
            for position, item in enumerate(value):
                yield from unknown_keys(items, item, f"{path}[{position}]", allowed)


# --- per provider ------------------------------------------------------------------------------

SPOTIFY = "spotify-openapi-fixed.yml"
TICKETMASTER = "ticketmaster-discovery-v2.json"
SETLISTFM = "setlistfm-1.0.json"


@functools.cache
def spotify(path: str, mode: str = "extended", status: str = "200") -> Checker:
    """The schema of ``GET path``'s answer with ``status`` (200, or an error response)."""
    changes: dict[str, Any] = {}
    if mode == "development":
        # README "February 2026": development mode removes album available_markets, label and
        # popularity, which the spec (written for extended access) lists as required.
        album_base = pointer(load(SPOTIFY), "#/components/schemas/AlbumBase/required")
        album = pointer(load(SPOTIFY), "#/components/schemas/AlbumObject/required")
        changes["#/components/schemas/AlbumBase/required"] = [
            r for r in album_base if r != "available_markets"
        ]
        changes["#/components/schemas/AlbumObject/required"] = [
            r for r in album if r not in ("label", "popularity")
        ]
        # ... and album_group, which the spec requires in an artist's album list.
        changes["#/components/schemas/ArtistDiscographyAlbumObject/allOf/1/required"] = None
    spec = patched(SPOTIFY, changes)
    response = spec["paths"][path]["get"]["responses"][status]
    if "$ref" in response:
        response = pointer(spec, response["$ref"])
    schema = inline(spec, response["content"]["application/json"]["schema"], openapi3=True)
    return Checker(schema)


# Observed in ../shared/upstream/ticketmaster_*.json but absent from the 2017 spec (exactly the
# undeclared keys of those samples).
TM_OBSERVED_EXTRAS = frozenset(
    {
        "_embedded",  # HAL: venues and attractions of an event
        "_links",  # HAL links on every object
        "aliases",  # attraction aliases
        "dmas",  # venue DMAs (the spec calls the field "dma")
        "markets.name",
        "classifications.family",
        "public.startTBA",
        "dates.initialStartDate",  # the original date of a postponed event
        "seatmap.id",
    }
)


@functools.cache
def ticketmaster(definition: str) -> Checker:
    """One of the spec's definitions (Event, Venue, Attraction), relaxed where the README says the
    API differs; the HAL envelope is not in the spec at all (see ``TM_ENVELOPE``)."""
    spec = patched(
        TICKETMASTER,
        {
            # README B: "location: the schema says number, but the documented example returns
            # strings. The examples use strings."
            "#/definitions/Location/properties/latitude": {"type": "string"},
            "#/definitions/Location/properties/longitude": {"type": "string"},
            # README B / samples: dates.start.localTime is "HH:mm:ss"; the spec has a Joda
            # LocalTime object there.
            "#/definitions/StartDates/properties/localTime": {"type": "string"},
        },
    )
    schema = inline(spec, {"$ref": f"#/definitions/{definition}"}, openapi3=False)
    return Checker(schema, TM_OBSERVED_EXTRAS)


def tm_path_schema(path: str) -> dict[str, Any]:
    response: dict[str, Any] = load(TICKETMASTER)["paths"][path]["get"]["responses"]["200"]
    return response


# The HAL envelope of list answers, from README B ("page object", "_links ... relative hrefs",
# "an empty result has no _embedded"): the spec has no definition for it.
TM_ENVELOPE: dict[str, Any] = {
    "type": "object",
    "required": ["_links", "page"],
    "properties": {
        "_embedded": {"type": "object", "minProperties": 1},
        "_links": {
            "type": "object",
            "required": ["self"],
            "additionalProperties": False,
            "patternProperties": {
                "^(first|self|next|prev|last)$": {
                    "type": "object",
                    "required": ["href"],
                    "properties": {"href": {"type": "string", "pattern": "^/discovery/v2/"}},
                }
            },
        },
        "page": {
            "type": "object",
            "required": ["size", "totalElements", "totalPages", "number"],
            "properties": {
                name: {"type": "integer", "minimum": 0}
                for name in ("size", "totalElements", "totalPages", "number")
            },
        },
    },
    "additionalProperties": False,
}


@functools.cache
def setlistfm(path: str, status: str = "200") -> Checker:
    spec = patched(
        SETLISTFM,
        {
            # README C: "the live API nests them as sets.set[]. The docs example shows a
            # top-level set"; the spec has the docs' shape. Declare the observed one.
            "#/definitions/json_Setlist/properties/sets": {
                "type": "object",
                "required": ["set"],
                "properties": {
                    "set": {"type": "array", "items": {"$ref": "#/definitions/json_Set"}}
                },
            },
        },
    )
    if status == "200":
        schema = spec["paths"][path]["get"]["responses"]["200"]["schema"]
    else:
        schema = {"$ref": "#/definitions/json_Error"}
    # "type" ("setlists", "artists"): observed top-level key, README C.
    return Checker(inline(spec, schema, openapi3=False), frozenset({"type"}))
