"""The API schema's view of errors: every operation documents the one error shape of
:mod:`labelhub.errors` for the 4xx answers it can give."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework import serializers


class ErrorItemSerializer(serializers.Serializer):
    field = serializers.CharField(allow_null=True, help_text="The field, or `non_field_errors`.")
    code = serializers.CharField(help_text="Stable, machine-readable: `unknown_label`, `required`, …")
    detail = serializers.CharField(help_text="What was wrong and what to do, for a person.")
    line = serializers.IntegerField(required=False, help_text="Import errors: the line of the file.")


class ErrorSerializer(serializers.Serializer):
    """Every 4xx answer of the API. Some errors add keys beside these (an import's ``batch``, the
    guideline ``version`` and ``acknowledge_url`` of a 409)."""

    code = serializers.CharField(help_text="The first error's code.")
    detail = serializers.CharField(help_text="The first error's message.")
    field = serializers.CharField(allow_null=True, help_text="The first error's field; null when none.")
    errors = ErrorItemSerializer(many=True, help_text="Every problem found, first one first.")


_PAGES: dict[str, type[serializers.Serializer]] = {}


def paginated(rows: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The body of a page of ``rows`` as DRF's ``PageNumberPagination`` answers it, for views that
    paginate by hand (an ``APIView`` gives drf-spectacular no paginator to read the shape from).
    One class per row serializer, so the schema has one component per page shape."""
    name = rows.__name__.removesuffix("Serializer")
    if name not in _PAGES:
        _PAGES[name] = type(
            f"Paginated{name}PageSerializer",
            (serializers.Serializer,),
            {
                "__doc__": f"One page of {name} rows: ``?page=<n>``; ``next`` and ``previous`` are null at the ends.",
                "count": serializers.IntegerField(help_text="Rows on every page together."),
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": rows(many=True),
            },
        )
    return _PAGES[name]


#: The statuses every authenticated operation may answer, beside those it declares itself.
COMMON_ERRORS = {
    "400": "Invalid input: `field` and `errors` say where.",
    "401": "Not logged in (no session, no valid token).",
    "403": "Logged in, but not allowed to do this.",
    "404": "No such object, or not in your projects (the two look the same).",
}


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's schema, with the error shape documented on every operation and one
    request content type per operation."""

    def map_parsers(self):
        """JSON where the view takes it (every view but uploads), else multipart for a file.

        DRF's default parsers also accept forms, which the API never needs; listed, they gave each
        body three content types, and client generators then made functions they cannot call.
        """
        media_types = super().map_parsers()
        for preferred in ("application/json", "multipart/form-data"):
            if preferred in media_types:
                return [preferred]
        return media_types

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction=direction)
        if direction != "response":
            return responses
        for status_code, description in COMMON_ERRORS.items():
            if status_code == "400" and self.method in ("GET", "DELETE"):
                continue
            if status_code not in responses:
                response = self._get_response_for_code(ErrorSerializer, status_code, direction=direction)
                response["description"] = description
                responses[status_code] = response
        return responses
