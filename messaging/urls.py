from django.urls import path

from . import event_views, live_views, views

app_name = "messaging"

# "new/", "poll/", "events/", "block/" and "unblock/" come before the conversation pattern,
# which would otherwise match them.
urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("new/", views.start, name="start"),
    path("new/<str:handle>/", views.new_conversation, name="new"),
    path("poll/", live_views.inbox_poll, name="poll"),
    path("events/", event_views.events, name="events"),
    path("block/", views.block, name="block"),
    path("unblock/", views.unblock, name="unblock"),
    path("<str:conversation_uuid>/", views.conversation, name="conversation"),
    path("<str:conversation_uuid>/poll/", live_views.conversation_poll, name="conversation_poll"),
]
