import uuid

from django import forms
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from . import selectors, services


class MessageForm(forms.Form):
    """A message to send, with a one-time token so a resubmitted form sends once."""

    max_length = services.MAX_MESSAGE_LENGTH

    text = forms.CharField(
        label="Message",
        required=False,  # clean_text gives the message for empty and blank text alike
        strip=False,
        # No maxlength: browsers count it in UTF-16 units, the server in characters
        # (clean_message_text); static/js/compose.js counts as the server does.
        widget=forms.Textarea(attrs={"rows": 3, "data-compose-text": ""}),
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
        recipient = selectors.find_user(handle=handle)
        if recipient is None:
            raise forms.ValidationError("No user @%(handle)s.", params={"handle": handle})
        services.check_recipient(sender=self.user, recipient=recipient)
        self.cleaned_data["recipient"] = recipient
        return recipient.handle

    def handle_input(self) -> SafeString:
        """The handle's <input>, exactly as `{{ form.handle }}` renders it.

        Built here rather than through the form renderer's widget templates, which cost the
        inbox page more than the rest of its form: the same attributes (the widget's, then
        required, aria-invalid and aria-describedby from the field's state, then the id), in
        the same order, escaped the same way.
        """
        field = self["handle"]
        widget = field.field.widget
        attrs = field.build_widget_attrs({}, widget)
        if field.auto_id and "id" not in widget.attrs:
            attrs.setdefault("id", field.auto_id)
        context = widget.get_context(field.html_name, field.value(), attrs)["widget"]
        value = context["value"]
        return format_html(
            '<input type="{}" name="{}"{}{}>',
            context["type"],
            context["name"],
            "" if value is None else format_html(' value="{}"', value),
            format_html_join(
                "",
                "{}",
                (
                    (
                        format_html(" {}", name)
                        if value is True
                        else format_html(' {}="{}"', name, value),
                    )
                    for name, value in context["attrs"].items()
                    if value is not False
                ),
            ),
        )
