"""WebSocket routes (Channels)."""

from django.urls import re_path

from annotators.labeling.consumers import QueueConsumer

websocket_urlpatterns: list = [
    re_path(r"^ws/projects/(?P<project_id>\d+)/queue/$", QueueConsumer.as_asgi()),
]
