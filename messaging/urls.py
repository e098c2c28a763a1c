from django.urls import path

from . import views

app_name = "messaging"

# "new/" and "poll/" come before the conversation pattern, which would otherwise match them.
urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("new/", views.start, name="start"),
    path("new/<str:handle>/", views.new_conversation, name="new"),
    path("poll/", views.inbox_poll, name="poll"),
    path("<str:message_group_uuid>/", views.conversation, name="conversation"),
    path("<str:message_group_uuid>/poll/", views.conversation_poll, name="conversation_poll"),
]
