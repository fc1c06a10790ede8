"""JSON request bodies for the whole API: one object, nested only so deep.

Python's json module recurses once per nesting level, so a body of a thousand ``[`` ends in a
RecursionError (a 500) and a few hundred levels still reach code that walks the result. Every
API view parses JSON with this parser (REST_FRAMEWORK's DEFAULT_PARSER_CLASSES, and the views
that list their parsers use API_PARSER_CLASSES), so every such body gets a 400 JSON error.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser

from .api_errors import ApiError


def json_depth_exceeds(value, limit: int) -> bool:
    """Whether arrays and objects nest more than ``limit`` levels deep (iterative, no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _json_kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    return "a string" if isinstance(value, str) else "an array"


class JSONObjectParser(JSONParser):
    """application/json bodies: a JSON object nested at most AIORNOT_JSON_MAX_DEPTH levels.

    Errors (all 400): ``parse_error`` (not JSON, from DRF), ``json_too_deep``, ``json_not_object``.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.AIORNOT_JSON_MAX_DEPTH
        too_deep = ApiError(
            "json_too_deep", f"The JSON body nests deeper than {limit} levels; send a flatter object."
        )
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise too_deep from None
        if not isinstance(data, dict):
            raise ApiError(
                "json_not_object", f"The JSON body must be an object ({{\"field\": ...}}), not {_json_kind(data)}."
            )
        if json_depth_exceeds(data, limit):
            raise too_deep
        return data


API_PARSER_CLASSES = [MultiPartParser, FormParser, JSONObjectParser]
