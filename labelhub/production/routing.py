"""WebSocket routes of the production page (Channels)."""

from django.urls import re_path

from labelhub.production.consumers import DriftConsumer

websocket_urlpatterns = [
    re_path(
        r"^ws/projects/(?P<project_id>\d+)/production/$", DriftConsumer.as_asgi(), name="production-socket"
    ),
]
