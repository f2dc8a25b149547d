"""Accounts for the annotators of imported annotations (Label Studio users), which cannot log in.

An imported annotation keeps who made it, so agreement, consensus and the annotator dashboards
count each person once; the account is only that identity: inactive (no login, no API token
works) with an unusable password, named ``ls:<email>`` or ``ls:user-<id>`` (a colon, which
labelhub's sign-up forms never accept, so no real username collides).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password

IMPORTED_NAME = "Imported from Label Studio"


def imported_annotator_ids(usernames: Iterable[str]) -> dict[str, int]:
    """The user id of each imported annotator account, created (in bulk) where missing."""
    user_model = get_user_model()
    wanted = set(usernames)
    if not wanted:
        return {}
    found = dict(user_model.objects.filter(username__in=wanted).values_list("username", "pk"))
    missing = sorted(wanted - set(found))
    if missing:
        user_model.objects.bulk_create(
            [
                user_model(
                    username=name, is_active=False, password=make_password(None), last_name=IMPORTED_NAME
                )
                for name in missing
            ],
            ignore_conflicts=True,  # a concurrent import made the same account: use that one
        )
        found.update(user_model.objects.filter(username__in=missing).values_list("username", "pk"))
    return found
