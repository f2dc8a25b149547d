"""Announcements are best effort: a channel layer that is down never fails the change behind them."""

from __future__ import annotations

import logging

from labelhub.projects import push


class _DownLayer:
    async def group_send(self, group, message):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def test_a_failed_announcement_is_logged_not_raised(monkeypatch, caplog):
    monkeypatch.setattr(push, "get_channel_layer", lambda: _DownLayer())
    with caplog.at_level(logging.WARNING, logger="labelhub.projects.push"):
        push.announce_queue_update(5, reason="fill")
    assert "could not announce a queue update of project 5" in caplog.text


def test_connections_are_health_checked_before_reuse():
    from django.conf import settings

    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True
