from django.contrib import admin

from .models import UnreadNotice


@admin.register(UnreadNotice)
class UnreadNoticeAdmin(admin.ModelAdmin):
    """The emails about unread messages, due or sent: to see what the worker will do."""

    list_display = ["recipient", "conversation_uuid", "due_at", "sent_at"]
    list_filter = [("sent_at", admin.EmptyFieldListFilter)]
    search_fields = ["recipient__handle", "conversation_uuid"]
    raw_id_fields = ["recipient"]
    date_hierarchy = "due_at"
