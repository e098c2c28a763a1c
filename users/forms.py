import unicodedata
import zoneinfo
from functools import cache

from django import forms
from django.conf import settings
from django.contrib.auth.forms import (
    AuthenticationForm,
    BaseUserCreationForm,
    PasswordChangeForm,
    PasswordResetForm,
    UserChangeForm,
)

from . import names, reauth
from .models import EMAIL_UNREAD_DELAYS, User, WhoMayStart, visible_text


@cache
def time_zone_names() -> tuple[str, ...]:
    """The IANA time zone names this system knows (tzdata), sorted."""
    return tuple(sorted(zoneinfo.available_timezones()))


class PersonFieldsMixin:
    """The rules for the fields a person chooses, at sign-up and in settings: a free handle
    that is not reserved, a display name without invisible characters that does not pass for
    the site (users/names.py), a known time zone."""

    def clean_handle(self):
        handle = super().clean_handle()
        names.validate_handle_not_reserved(handle)
        return handle

    def clean_display_name(self):
        display_name = visible_text(self.cleaned_data["display_name"])
        if not display_name:
            raise forms.ValidationError("Enter the name people will see.", code="required")
        names.validate_display_name_not_reserved(display_name)
        return display_name

    def clean_time_zone(self):
        name = self.cleaned_data.get("time_zone", "").strip()
        if name and name not in time_zone_names():
            raise forms.ValidationError(
                "Choose a time zone from the list, such as Europe/Paris or America/New_York.",
                code="invalid",
            )
        return name


class HandleUniqueMixin:
    """Reject a handle that exists in any capitalisation, or that someone else renamed away
    from lately (held for them: users/names.py), as a field error on the form."""

    def clean_handle(self):
        handle = self.cleaned_data["handle"]
        taken = User.objects.find_by_handle(handle, active_only=False)
        if taken is not None and taken.pk != self.instance.pk:
            raise forms.ValidationError("That handle is already taken.", code="unique")
        hold = names.held_for(handle)
        if hold is not None and hold.user_id != self.instance.pk:
            raise forms.ValidationError(
                "That handle was in use until recently and is not free yet. Please choose another.",
                code="held",
            )
        return handle


class EmailNotHeldMixin:
    """Reject an email address that another account verified, in any capitalisation: it is
    theirs. An unverified one holds nothing (users/verification.py), so it is accepted: its
    owner may be the one typing it. Model validation cannot say this: the constraint's
    condition names email_verified, which is not a field of these forms, so Django skips it."""

    def clean_email(self):
        email = self.cleaned_data["email"]
        if self.instance.has_email(email):
            return email  # kept as it was, held or not (its holder may have verified it since)
        holders = User.objects.with_email(email).filter(email_verified=True)
        if holders.exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError(
                "An account with this email address already exists.", code="unique"
            )
        return email


class SignupForm(PersonFieldsMixin, HandleUniqueMixin, EmailNotHeldMixin, BaseUserCreationForm):
    """Sign-up: the person's fields (PersonFieldsMixin), an email address no account has
    verified (EmailNotHeldMixin; the view then sends the link that verifies it), and the
    browser's time zone, which static/js/timezone.js puts in a hidden field (UTC without
    JavaScript)."""

    class Meta:
        model = User
        fields = ["handle", "display_name", "email", "time_zone"]
        widgets = {
            "handle": forms.TextInput(
                attrs={"autocapitalize": "none", "autofocus": True, "autocomplete": "username"}
            ),
            "time_zone": forms.HiddenInput(attrs={"data-browser-time-zone": ""}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].required = True
        # The browser fills this hidden field: whatever it sends, long or unknown, means UTC
        # (clean_time_zone) rather than an error on a field no one can see.
        self.fields["time_zone"].max_length = None
        self.fields["time_zone"].validators = []

    def clean_time_zone(self):
        try:
            return super().clean_time_zone()
        except forms.ValidationError:
            return ""  # a browser's name we do not know: UTC, changeable in settings


class ProfileForm(PersonFieldsMixin, HandleUniqueMixin, EmailNotHeldMixin, forms.ModelForm):
    """Settings: who you are to others, and your time zone. Changing the email address asks
    for the password (whoever controls the address can reset the password). It only
    validates: users.services.update_profile saves (and unverifies a new address)."""

    current_password = forms.CharField(
        label="Current password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="Needed only to change your email address.",
    )
    field_order = ["handle", "display_name", "bio", "email", "current_password", "time_zone"]

    class Meta:
        model = User
        fields = ["handle", "display_name", "bio", "email", "time_zone"]
        widgets = {
            "handle": forms.TextInput(
                attrs={"autocapitalize": "none", "spellcheck": "false", "autocomplete": "username"}
            ),
            "bio": forms.Textarea(attrs={"rows": 3}),
            "time_zone": forms.TextInput(
                attrs={"list": "time-zones", "autocomplete": "off", "spellcheck": "false"}
            ),
        }
        help_texts = {
            "handle": "Letters, digits and underscores. You log in with it. Your old handle "
            "stays yours for a while, and links with it say where you went.",
            "time_zone": "Type to search, such as Paris or New_York. Empty means UTC.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].required = True
        self.fields["email"].help_text = (
            "Verified."
            if self.instance.email_verified
            else "Not verified yet: open the link we sent to it."
        )

    def clean(self):
        cleaned = super().clean()
        email = cleaned.get("email")
        # clean() runs before the form copies its fields onto the instance: the stored address.
        changed = email is not None and not self.instance.has_email(email)
        password = cleaned.get("current_password", "")
        if changed and not reauth.is_current_password(self.instance, password):
            self.add_error(
                "current_password", "Enter your current password to change your email address."
            )
        return cleaned

    def profile_fields(self) -> dict:
        """The profile's fields as `users.services.update_profile` takes them."""
        return {name: self.cleaned_data[name] for name in self._meta.fields}

    def save(self, commit=True):
        raise NotImplementedError("Save the profile with users.services.update_profile.")


class ResetByEmailForm(PasswordResetForm):
    """Django's reset form, finding the accounts by the address's LOWER index. A verified
    holder of the address is the only one who gets the link; while no one verified it, each
    active account that typed it does, since its owner may be any of them."""

    def get_users(self, email):
        holders = list(User.objects.with_email(email))
        verified = [user for user in holders if user.email_verified]
        return [
            user
            for user in verified or holders
            if user.is_active and user.has_usable_password() and _same_address(user.email, email)
        ]


def _same_address(stored: str, typed: str) -> bool:
    # Django's own check (PasswordResetForm): the database's LOWER() may call two addresses
    # equal that Unicode case folding tells apart. The email goes to the stored one anyway.
    return unicodedata.normalize("NFKC", stored).casefold() == (
        unicodedata.normalize("NFKC", typed).casefold()
    )


def _delay_label(seconds: int) -> str:
    """300 -> "5 minutes", 3600 -> "1 hour"."""
    for unit, size in (("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    raise AssertionError("unreachable: every whole number of seconds is some seconds")


class MessagingSettingsForm(forms.ModelForm):
    """Who may start a conversation with me; emails about unread messages, and after how long."""

    class Meta:
        model = User
        fields = ["who_may_start", "email_unread", "email_unread_delay"]
        widgets = {"who_may_start": forms.RadioSelect}
        labels = {
            "who_may_start": "Who may start a conversation with you",
            "email_unread": "Email me about unread messages",
            "email_unread_delay": "Send the email when a message is unread for",
        }
        help_texts = {
            "who_may_start": "People you blocked can never write to you, whatever you choose.",
            "email_unread": "One email per conversation, then nothing more until you read it.",
            "email_unread_delay": "",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["who_may_start"].choices = WhoMayStart.choices  # no empty choice
        default = settings.NOTIFY_DELAY_SECONDS
        self.fields["email_unread_delay"] = forms.TypedChoiceField(
            label=self.Meta.labels["email_unread_delay"],
            choices=[("", f"{_delay_label(default)} (the default)")]
            + [(s, _delay_label(s)) for s in EMAIL_UNREAD_DELAYS if s != default],
            coerce=int,
            empty_value=None,
            required=False,
        )


class AdminUserCreationForm(HandleUniqueMixin, BaseUserCreationForm):
    class Meta:
        model = User
        fields = ["handle", "display_name", "email"]


class AdminUserChangeForm(HandleUniqueMixin, UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


class LoginForm(AuthenticationForm):
    """Django's login form, refusing a handle longer than any handle can be before
    authenticate() runs: nothing is looked up or recorded for it (axes' record of a failure
    holds 255 characters)."""

    def clean_username(self):
        handle = self.cleaned_data["username"]
        longest = self.username_field.max_length
        if len(handle.removeprefix("@")) > longest:
            raise forms.ValidationError(
                f"A handle has at most {longest} characters. Check what you typed.",
                code="max_length",
            )
        return handle


class ChangePasswordForm(PasswordChangeForm):
    """Django's password change, its current password checked with users/reauth.py."""

    def clean_old_password(self):
        old_password = self.cleaned_data["old_password"]
        if not reauth.is_current_password(self.user, old_password):
            raise forms.ValidationError(
                self.error_messages["password_incorrect"], code="password_incorrect"
            )
        return old_password
