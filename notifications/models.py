"""The emails about unread messages that are due, or were sent, one row per person and
conversation (README "Email when away").

A send writes the recipient's row if there is none (`INSERT … ON CONFLICT DO NOTHING`): the
first unread message of a stretch sets when the email is due, later ones find the row there and
are batched into that email. `notify_emails` claims due rows (`SELECT … FOR UPDATE SKIP
LOCKED`), sends, and stamps `sent_at`; the row then stays, so nothing more is sent for that
conversation until the person reads it, which deletes the row and starts the cycle again.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class UnreadNotice(models.Model):
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    conversation_uuid = models.UUIDField()
    due_at = models.DateTimeField(help_text="When the email goes if the messages stay unread.")
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "conversation_uuid"], name="notice_one_per_conversation"
            )
        ]
        # The worker's pass reads the due rows only, oldest first: a partial index of the
        # rows not sent yet, by due time.
        indexes = [
            models.Index(fields=["due_at"], condition=Q(sent_at__isnull=True), name="notice_due")
        ]

    def __str__(self) -> str:
        return f"{self.recipient_id} / {self.conversation_uuid} due {self.due_at:%Y-%m-%d %H:%M}"
