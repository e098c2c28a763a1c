from django.urls import path

from . import event_views, live_views, views

app_name = "messaging"

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("new/", views.start, name="start"),
    path("new/<str:handle>/", views.new_conversation, name="new"),
    path("group/", views.new_group, name="new_group"),
    path("poll/", live_views.poll, name="poll"),
    path("events/", event_views.events, name="events"),
    path("block/", views.block, name="block"),
    path("unblock/", views.unblock, name="unblock"),
    # A malformed conversation uuid matches nothing: Django's 404 page, like a missing one.
    path("<uuid:conversation_uuid>/", views.conversation, name="conversation"),
    path("<uuid:conversation_uuid>/hide/", views.hide, name="hide"),
    path("<uuid:conversation_uuid>/add/", views.add_people, name="add_people"),
    path("<uuid:conversation_uuid>/leave/", views.leave, name="leave"),
    path("<uuid:conversation_uuid>/rename/", views.rename, name="rename"),
    path("<uuid:conversation_uuid>/<uuid:message_uuid>/unsend/", views.unsend, name="unsend"),
    path("<uuid:conversation_uuid>/<uuid:message_uuid>/edit/", views.edit, name="edit"),
]
