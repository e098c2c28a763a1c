from django import forms
from django.contrib.auth.forms import BaseUserCreationForm, UserChangeForm

from .models import User


class HandleUniqueMixin:
    """Reject a handle that exists in any capitalisation, as a field error on the form."""

    def clean_handle(self):
        handle = self.cleaned_data["handle"]
        taken = User.objects.find_by_handle(handle, active_only=False)
        if taken is not None and taken.pk != self.instance.pk:
            raise forms.ValidationError("That handle is already taken.", code="unique")
        return handle


class SignupForm(HandleUniqueMixin, BaseUserCreationForm):
    class Meta:
        model = User
        fields = ["handle", "display_name", "email"]
        widgets = {"handle": forms.TextInput(attrs={"autocapitalize": "none", "autofocus": True})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].required = True


class AdminUserCreationForm(HandleUniqueMixin, BaseUserCreationForm):
    class Meta:
        model = User
        fields = ["handle", "display_name", "email"]


class AdminUserChangeForm(HandleUniqueMixin, UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"
