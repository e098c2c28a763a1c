"""The current password, asked again behind a session (changing the password or the email
address, deleting the account), is throttled like logging in, so that someone with a borrowed
session cannot guess it: after LOGIN_FAILURE_LIMIT wrong passwords by one person within a
LOGIN_COOLOFF_MINUTES window, checking is paused until the window ends, the right password
included. Tries while paused are not counted. Counted per person in the cache
(cruddur/limits.py), only the wrong ones.
"""

from __future__ import annotations

import contextlib

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpResponse

from cruddur import limits

WRONG_PASSWORDS = limits.Limit(
    "wrong-current-password",
    "AXES_FAILURE_LIMIT",  # LOGIN_FAILURE_LIMIT
    int(settings.AXES_COOLOFF_TIME.total_seconds()),
    "wrong passwords",
    "in a row",
)


class Paused(ValidationError):
    """The form's answer while checking is paused: a form error saying when to try again;
    pause_status() then makes the page a 429 with Retry-After."""

    def __init__(self, reached: limits.LimitReached):
        self.retry_after = reached.retry_after
        super().__init__(
            "Too many wrong passwords. For your safety, checking your password is paused: "
            f"try again in {reached.retry_in}.",
            code="paused",
        )


def is_current_password(user, password: str) -> bool:
    """Whether `password` is `user`'s; a wrong one is counted (an empty one guesses nothing).
    While paused, raises Paused without checking or counting."""
    subject = str(user.pk)
    try:
        limits.check(subject, WRONG_PASSWORDS)
    except limits.LimitReached as reached:
        raise Paused(reached) from None
    if not password:
        return False
    if user.check_password(password):
        return True
    with contextlib.suppress(limits.LimitReached):  # others counted at the same moment
        limits.take(subject, WRONG_PASSWORDS)
    return False


def pause_status(response: HttpResponse, form) -> HttpResponse:
    """`response`, the form's page again, as 429 with Retry-After when its password check
    was paused."""
    for errors in form.errors.as_data().values():
        for error in errors:
            if isinstance(error, Paused):
                return limits.too_many(response, error.retry_after)
    return response


class PauseStatusMixin:
    """For a FormView whose form checks the current password: pause_status() on its page."""

    def form_invalid(self, form):
        return pause_status(super().form_invalid(form), form)
