"""WebSocket routes (Channels): each app that has sockets lists its own."""

from annotators.labeling.routing import websocket_urlpatterns as labeling_sockets
from labelhub.production.routing import websocket_urlpatterns as production_sockets

websocket_urlpatterns: list = [*labeling_sockets, *production_sockets]
