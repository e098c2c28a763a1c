from django.urls import path

from . import views

app_name = "messaging"

# "new/" comes before the conversation pattern, which would otherwise match it.
urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("new/", views.start, name="start"),
    path("new/<str:handle>/", views.new_conversation, name="new"),
    path("<str:message_group_uuid>/", views.conversation, name="conversation"),
]
