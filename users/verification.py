"""Verifying an email address: a signed link sent to it, at sign-up and when it changes.

Until its owner opens the link, an address holds nothing: the unique constraint on email
covers verified addresses only (users/models.py), so someone who typed another person's
address blocks no one, and the first account to verify it keeps it. An unverified address
gets no email but this link and password resets (`User.may_receive_email`).

The link carries a token signed with SECRET_KEY (django.core.signing): the user's uuid, a
digest of the address and when it was made. It works for EMAIL_VERIFICATION_TIMEOUT, and
only while the account still has that address, so changing the address kills older links.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from functools import partial

from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse

from cruddur import limits

from .models import User

logger = logging.getLogger(__name__)

SALT = "users.verification"

# Links sent again from Settings, per user (the first one, sent by sign-up or by the change
# of address, is not counted).
LINKS_SENT_AGAIN = limits.Limit(
    "verify-again", "EMAIL_VERIFICATION_LIMIT_PER_HOUR", 60 * 60, "verification emails", "an hour"
)


def _digest(email: str) -> str:
    # The address in the link only as a digest: links end up in logs and browser histories.
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def make_token(user: User) -> str:
    return signing.dumps({"user": str(user.uuid), "email": _digest(user.email)}, salt=SALT)


def user_for_token(token: str) -> User | None:
    """The active user `token` was made for, if it is genuine, not expired, and the user
    still has the address it was made for; else None."""
    try:
        payload = signing.loads(token, salt=SALT, max_age=settings.EMAIL_VERIFICATION_TIMEOUT)
        user_uuid = uuid.UUID(payload["user"])
        digest = payload["email"]
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None  # SignatureExpired is a BadSignature
    user = User.objects.filter(uuid=user_uuid, is_active=True).first()
    if user is None or not user.email or _digest(user.email) != digest:
        return None
    return user


def verified_by_another(user: User) -> bool:
    """Whether another account verified `user`'s address first, and so holds it."""
    return (
        User.objects.with_email(user.email).filter(email_verified=True).exclude(pk=user.pk).exists()
    )


def verify(user: User) -> bool:
    """Mark `user`'s address verified; False, changing nothing, when another account
    verified it first (checked, and held by the database's constraint for a race)."""
    if verified_by_another(user):
        return False
    try:
        with transaction.atomic():
            # Only while the address is still the one the link was for.
            updated = User.objects.filter(pk=user.pk, email=user.email).update(email_verified=True)
    except IntegrityError:  # another account verified it a moment ago
        return False
    user.email_verified = bool(updated)
    return user.email_verified


def send_link(user: User, *, request: HttpRequest) -> None:
    """Email `user` the link that verifies their address. A failed send is logged and
    otherwise ignored: Settings offers to send it again."""
    link = request.build_absolute_uri(reverse("verify_email", args=[make_token(user)]))
    context = {"user": user, "link": link, "days": settings.EMAIL_VERIFICATION_TIMEOUT // 86400}
    subject = render_to_string("registration/verification_subject.txt", context)
    body = render_to_string("registration/verification_email.txt", context)
    try:
        send_mail(" ".join(subject.split()), body, settings.DEFAULT_FROM_EMAIL, [user.email])
    except Exception:  # the mail server is down or refuses: not the person's fault
        logger.exception("Failed to send the email address verification link to %s", user)


def send_link_on_commit(user: User, *, request: HttpRequest) -> None:
    """`send_link` once the transaction that gave `user` the address is committed: never a
    link for a row that was rolled back."""
    transaction.on_commit(partial(send_link, user, request=request))
