"""The one error type of the domain and the one JSON shape every API error takes.

Every error a user or client can cause is a :class:`DomainError` (or a subclass): it carries the
HTTP status, a stable machine-readable ``code``, the ``field`` (or line) it is about and a message
that says what to do. Views never catch them; :func:`api_exception_handler` (DRF's
``EXCEPTION_HANDLER``) turns them, and DRF's own errors, into one body::

    {"code": "unknown_label", "detail": "Label 'x' is not in the schema …", "field": "labels",
     "errors": [{"field": "labels", "code": "unknown_label", "detail": "…"}], …extra}

``errors`` lists every problem (one per field, or per line of an import, with ``line``); ``field``
is the first problem's. With one problem ``code`` and ``detail`` are its own; an error that sums
up many (a rejected import) says so in ``code``/``detail`` and lists them in ``errors``.
Extra keys (an import's ``batch``, the guideline version to acknowledge) sit beside them.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

NON_FIELD = "non_field_errors"


class DomainError(Exception):
    """A request a user or client caused: a 4xx naming what was wrong, never a 500."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = NON_FIELD,
        code: str | None = None,
        errors: list[dict] | None = None,
        status_code: int | None = None,
        **extra: Any,
    ):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code or self.default_code
        if status_code is not None:
            self.status_code = status_code
        self._errors = errors
        self.extra = extra

    @property
    def errors(self) -> list[dict]:
        """Every problem as ``{"field", "code", "detail"[, "line"]}``; the error itself when one."""
        if self._errors is not None:
            return self._errors
        return [{"field": self.field, "code": self.code, "detail": self.message}]

    def body(self) -> dict:
        return {
            "code": self.code,
            "detail": self.message,
            "field": self.field,
            "errors": self.errors,
            **self.extra,
        }


class NotFound(DomainError):
    """Absent, or outside the caller's projects: the two are indistinguishable on purpose."""

    status_code = status.HTTP_404_NOT_FOUND
    default_code = "not_found"

    def __init__(self, message: str = "Not found.", **kwargs: Any):
        kwargs.setdefault("field", None)
        super().__init__(message, **kwargs)


class Forbidden(DomainError):
    status_code = status.HTTP_403_FORBIDDEN
    default_code = "permission_denied"

    def __init__(self, message: str = "You do not have permission to do this.", **kwargs: Any):
        kwargs.setdefault("field", None)
        super().__init__(message, **kwargs)


class Conflict(DomainError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def _flatten(detail: Any, prefix: str = "") -> list[dict]:
    """DRF's nested ``{field: [ErrorDetail]}`` as a flat list of ``{"field", "code", "detail"}``."""
    if isinstance(detail, dict):
        rows: list[dict] = []
        for key, value in detail.items():
            if isinstance(key, int):  # a ListField's child errors come keyed by position
                rows.extend(_flatten(value, f"{prefix}[{key}]"))
                continue
            name = NON_FIELD if key in (NON_FIELD, "__all__") and not prefix else str(key)
            rows.extend(_flatten(value, f"{prefix}.{name}" if prefix else name))
        return rows
    if isinstance(detail, list):
        if all(isinstance(value, str) for value in detail):
            return [_row(prefix, value) for value in detail]
        rows = []
        for index, value in enumerate(detail):
            rows.extend(_flatten(value, f"{prefix}[{index}]" if prefix else f"[{index}]"))
        return rows
    return [_row(prefix, detail)]


def _row(field: str, message: Any) -> dict:
    return {"field": field or NON_FIELD, "code": getattr(message, "code", "invalid"), "detail": str(message)}


def from_drf(exc: exceptions.APIException) -> DomainError:
    """DRF's own exception (a serializer's ValidationError, NotAuthenticated, …) in the one shape."""
    if isinstance(exc, exceptions.ValidationError):
        rows = _flatten(exc.detail) or [_row(NON_FIELD, "Invalid input.")]
        first = rows[0]
        return DomainError(first["detail"], field=first["field"], code=first["code"], errors=rows)
    detail = exc.detail
    message = str(detail if not isinstance(detail, dict | list) else exc.default_detail)
    code = detail.code if hasattr(detail, "code") else exc.default_code
    return DomainError(message, field=None, code=code, status_code=exc.status_code)


def from_django(exc: Exception) -> DomainError:
    if isinstance(exc, Http404):
        return NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return Forbidden(str(exc) or Forbidden().message)
    assert isinstance(exc, DjangoValidationError)
    detail = exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD: exc.messages}
    return from_drf(exceptions.ValidationError(detail))


def as_domain_error(exc: Exception) -> DomainError | None:
    """Any error a user can cause, as a :class:`DomainError`; ``None`` for bugs (they stay 500s)."""
    if isinstance(exc, DomainError):
        return exc
    if isinstance(exc, exceptions.APIException):
        return from_drf(exc)
    if isinstance(exc, Http404 | DjangoPermissionDenied | DjangoValidationError):
        return from_django(exc)
    return None


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's ``EXCEPTION_HANDLER``: every 4xx of the API in the one shape of :class:`DomainError`."""
    error = as_domain_error(exc)
    if error is None:
        return None
    headers = {}
    if isinstance(exc, exceptions.APIException):
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
    set_rollback()
    return Response(error.body(), status=error.status_code, headers=headers)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler404``: a URL under ``/api/`` that matches no route answers in the one shape too
    (pages keep Django's page). With ``DEBUG`` on, Django shows its own technical page instead."""
    if request.path.startswith("/api/"):
        error = NotFound()
        return JsonResponse(error.body(), status=error.status_code)
    return defaults.page_not_found(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler403``: the API answers in the one shape; pages render ``403.html`` with the reason
    (for instance "you are not a member of this project") instead of a bare "403 Forbidden"."""
    if request.path.startswith("/api/"):
        error = Forbidden(str(exception) or Forbidden().message)
        return JsonResponse(error.body(), status=error.status_code)
    return defaults.permission_denied(request, exception)
