"""WebSocket routes of the labeling page (Channels).

The list is also this module's ``urlpatterns`` so the page can ``reverse()`` the socket's path
(``reverse("queue-socket", urlconf=__name__, ...)``) instead of spelling it out a second time.
"""

from django.urls import re_path

from annotators.labeling.consumers import QueueConsumer

websocket_urlpatterns = [
    re_path(r"^ws/projects/(?P<project_id>\d+)/queue/$", QueueConsumer.as_asgi(), name="queue-socket"),
]
urlpatterns = websocket_urlpatterns
