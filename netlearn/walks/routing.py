from django.urls import path

from .consumers import WalkConsumer

websocket_urlpatterns = [
    path("ws/walk/<uuid:walk_id>/", WalkConsumer.as_asgi()),
]
