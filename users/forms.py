import zoneinfo
from functools import cache

from django import forms
from django.contrib.auth.forms import BaseUserCreationForm, UserChangeForm

from .models import User, WhoMayStart, validate_not_reserved, visible_text


@cache
def time_zone_names() -> tuple[str, ...]:
    """The IANA time zone names this system knows (tzdata), sorted."""
    return tuple(sorted(zoneinfo.available_timezones()))


class PersonFieldsMixin:
    """The rules for the fields a person chooses, at sign-up and in settings: a free handle
    that is not reserved, a display name without invisible characters, a known time zone."""

    def clean_handle(self):
        handle = super().clean_handle()
        validate_not_reserved(handle)
        return handle

    def clean_display_name(self):
        display_name = visible_text(self.cleaned_data["display_name"])
        if not display_name:
            raise forms.ValidationError("Enter the name people will see.", code="required")
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
    """Reject a handle that exists in any capitalisation, as a field error on the form."""

    def clean_handle(self):
        handle = self.cleaned_data["handle"]
        taken = User.objects.find_by_handle(handle, active_only=False)
        if taken is not None and taken.pk != self.instance.pk:
            raise forms.ValidationError("That handle is already taken.", code="unique")
        return handle


class SignupForm(PersonFieldsMixin, HandleUniqueMixin, BaseUserCreationForm):
    """Sign-up: the person's fields (PersonFieldsMixin), an email address no account has yet
    (any capitalisation: the model's constraint), and the browser's time zone, which
    static/js/timezone.js puts in a hidden field (UTC without JavaScript)."""

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

    def clean_time_zone(self):
        try:
            return super().clean_time_zone()
        except forms.ValidationError:
            return ""  # a browser's name we do not know: UTC, changeable in settings


class ProfileForm(PersonFieldsMixin, HandleUniqueMixin, forms.ModelForm):
    """Settings: who you are to others, and your time zone. Changing the email address asks
    for the password (whoever controls the address can reset the password)."""

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
            "handle": "Letters, digits and underscores. You log in with it; links with your "
            "old handle stop working.",
            "time_zone": "Type to search, such as Paris or New_York. Empty means UTC.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].required = True
        self.stored_email = self.instance.email

    def clean(self):
        cleaned = super().clean()
        email = cleaned.get("email")
        changed = email is not None and email.lower() != self.stored_email.lower()
        if changed and not self.instance.check_password(cleaned.get("current_password", "")):
            self.add_error(
                "current_password", "Enter your current password to change your email address."
            )
        return cleaned


class MessagingSettingsForm(forms.ModelForm):
    """Who may start a conversation with me."""

    class Meta:
        model = User
        fields = ["who_may_start"]
        widgets = {"who_may_start": forms.RadioSelect}
        labels = {"who_may_start": "Who may start a conversation with you"}
        help_texts = {
            "who_may_start": "People you blocked can never write to you, whatever you choose."
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["who_may_start"].choices = WhoMayStart.choices  # no empty choice


class AdminUserCreationForm(HandleUniqueMixin, BaseUserCreationForm):
    class Meta:
        model = User
        fields = ["handle", "display_name", "email"]


class AdminUserChangeForm(HandleUniqueMixin, UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"
