import uuid

from django import forms

from users.selectors import find_user

from . import services


class MessageBox(forms.BoundField):
    """The message's <textarea>, described by its error (when there is one) and by the
    character counter under it (static/js/compose.js keeps the list as alerts come and go)."""

    def build_widget_attrs(self, attrs, widget=None):
        attrs = super().build_widget_attrs(attrs, widget)
        described_by = [attrs.get("aria-describedby"), f"{self.auto_id}_counter"]
        attrs["aria-describedby"] = " ".join(filter(None, described_by))
        return attrs


class MessageForm(forms.Form):
    """A message to send, with a one-time token so a resubmitted form sends once."""

    max_length = services.MAX_MESSAGE_LENGTH

    text = forms.CharField(
        label="Message",
        required=False,  # clean_text gives the message for empty and blank text alike
        strip=False,
        widget=forms.Textarea(
            attrs={
                # One line that grows with the text (cruddur.css: field-sizing), as in a chat.
                "rows": 1,
                "placeholder": "Write a message",
                # The browser refuses an empty box before it is sent (the field is not
                # required for the server, so that clean_text words every refusal).
                "required": True,
                # No maxlength: browsers count it in UTF-16 units, the server in characters
                # (clean_message_text); static/js/compose.js counts as the server does.
                "data-max-length": services.MAX_MESSAGE_LENGTH,
                "data-compose-text": "",
            }
        ),
        bound_field_class=MessageBox,
    )
    token = forms.UUIDField(
        widget=forms.HiddenInput,
        error_messages={
            "required": "This form has expired. Please send again.",
            "invalid": "This form has expired. Please send again.",
        },
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {"token": uuid.uuid4()})
        super().__init__(*args, **kwargs)

    def clean_text(self):
        return services.clean_message_text(self.cleaned_data["text"])

    @property
    def token_value(self) -> str:
        """The token to render: the submitted one if usable, else a fresh one."""
        if not self.is_bound:
            return str(self.initial["token"])
        token = getattr(self, "cleaned_data", {}).get("token")
        return str(token or uuid.uuid4())


class RecipientForm(forms.Form):
    """The inbox's New message box: whom to write to, by handle."""

    handle = forms.CharField(
        label="To",
        max_length=40,
        help_text="Their handle, with or without the @.",
        widget=forms.TextInput(
            attrs={
                "placeholder": "@handle",
                "autocapitalize": "none",
                "autocomplete": "off",
                "spellcheck": "false",
            }
        ),
        error_messages={"required": "Type the handle of the person to write to."},
    )

    def __init__(self, *args, user, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_handle(self):
        handle = self.cleaned_data["handle"].strip().removeprefix("@")
        if not handle:
            raise forms.ValidationError(self.fields["handle"].error_messages["required"])
        recipient = find_user(handle=handle)
        if recipient is None:
            raise forms.ValidationError("No user @%(handle)s.", params={"handle": handle})
        services.check_recipient(sender=self.user, recipient=recipient)
        self.cleaned_data["recipient"] = recipient
        return recipient.handle


class MessageChangeForm(forms.Form):
    """Unsend or edit one's own message: where it is (its sort key, so the store finds it with
    one read; the store checks the uuid and the sender whatever this says), and for an edit the
    new text. No token: both changes are idempotent in the store."""

    sort_key = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)


class EditForm(MessageChangeForm):
    text = forms.CharField(label="Message", required=False, strip=False, widget=forms.Textarea)

    def clean_text(self):
        return services.clean_message_text(self.cleaned_data["text"])
