from django import forms
from django.contrib.auth.forms import BaseUserCreationForm, UserChangeForm

from .models import User, WhoMayStart, validate_not_reserved, visible_text


class HandleUniqueMixin:
    """Reject a handle that exists in any capitalisation, as a field error on the form."""

    def clean_handle(self):
        handle = self.cleaned_data["handle"]
        taken = User.objects.find_by_handle(handle, active_only=False)
        if taken is not None and taken.pk != self.instance.pk:
            raise forms.ValidationError("That handle is already taken.", code="unique")
        return handle


class SignupForm(HandleUniqueMixin, BaseUserCreationForm):
    """Sign-up: a free handle that is not reserved, an email address no account has yet (any
    capitalisation: the model's constraint), a display name without invisible characters."""

    class Meta:
        model = User
        fields = ["handle", "display_name", "email"]
        widgets = {"handle": forms.TextInput(attrs={"autocapitalize": "none", "autofocus": True})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].required = True

    def clean_handle(self):
        handle = super().clean_handle()
        validate_not_reserved(handle)
        return handle

    def clean_display_name(self):
        display_name = visible_text(self.cleaned_data["display_name"])
        if not display_name:
            raise forms.ValidationError("Enter the name people will see.", code="required")
        return display_name


class SafetySettingsForm(forms.ModelForm):
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
