"""The capture token: ``Authorization: Deployment <token>`` lets a deployed model send captures, nothing else.

Only the capture views list this authentication class, so the token opens no other endpoint; it is
stored as its sha256 (a leaked database does not leak working tokens).
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from rest_framework import authentication, exceptions

from labelhub.production import selectors

KEYWORD = "Deployment"


class DeploymentTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode("latin-1") != KEYWORD:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization: Deployment <token> (one token, no spaces).")
        deployment = selectors.deployment_for_token(header[1].decode("latin-1"))
        if deployment is None:
            raise exceptions.AuthenticationFailed("Unknown or inactive deployment token.")
        return AnonymousUser(), deployment

    def authenticate_header(self, request) -> str:
        return KEYWORD
