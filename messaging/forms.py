import uuid

from django import forms

from users.selectors import find_user

from . import rosters, services


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


def handles_in(typed: str) -> list[str]:
    """The handles in what someone typed ("@bayko, @londo", "bayko londo"), each once, in
    order, without their "@"."""
    words = (word.removeprefix("@") for word in typed.replace(",", " ").split())
    return list(dict.fromkeys(word for word in words if word))


def people_named(typed: str, *, sender) -> list:
    """The users whose handles were typed, or ValidationError naming the first unknown one
    (or the sender themselves). Empty when nothing was typed."""
    found = []
    for handle in handles_in(typed):
        person = find_user(handle=handle)
        if person is None:
            raise forms.ValidationError("No user @%(handle)s.", params={"handle": handle})
        services.check_recipient(sender=sender, recipient=person)
        if person not in found:
            found.append(person)
    return found


def handles_input(placeholder: str) -> forms.TextInput:
    """A box for handles: no capitals, no completion, no spelling marks."""
    return forms.TextInput(
        attrs={
            "placeholder": placeholder,
            "autocapitalize": "none",
            "autocomplete": "off",
            "spellcheck": "false",
        }
    )


class RecipientForm(forms.Form):
    """The inbox's New message box: whom to write to, by handle; several for a group."""

    handle = forms.CharField(
        label="To",
        max_length=400,
        help_text="A handle, with or without the @. Several, separated by commas, start a group.",
        widget=handles_input("@handle, @another"),
        error_messages={"required": "Type the handle of the person to write to."},
    )

    def __init__(self, *args, user, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_handle(self):
        typed = self.cleaned_data["handle"]
        people = people_named(typed, sender=self.user)
        if not people:
            raise forms.ValidationError(self.fields["handle"].error_messages["required"])
        refused = services.group_cap_refusal(len(people) + 1)
        if refused:
            raise forms.ValidationError(refused)
        self.cleaned_data["recipients"] = people
        self.cleaned_data["recipient"] = people[0]
        return ", ".join(person.handle for person in people)


class GroupForm(MessageForm):
    """A new group's first message, and its name (optional)."""

    name = forms.CharField(
        label="Group name (optional)",
        required=False,
        max_length=rosters.MAX_GROUP_NAME_LENGTH,
        help_text="Without a name, the group is called by its members' names.",
    )
    field_order = ["name", "text", "token"]


class AddPeopleForm(forms.Form):
    """A group's "Add people" box: one handle or several."""

    handles = forms.CharField(
        label="Add people",
        max_length=400,
        help_text="Handles, separated by commas. They see the messages from now on.",
        widget=handles_input("@handle"),
        error_messages={"required": "Type the handle of someone to add."},
    )

    def __init__(self, *args, user, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_handles(self):
        people = people_named(self.cleaned_data["handles"], sender=self.user)
        if not people:
            raise forms.ValidationError(self.fields["handles"].error_messages["required"])
        self.cleaned_data["people"] = people
        return self.cleaned_data["handles"]


class RenameForm(forms.Form):
    name = forms.CharField(
        label="Group name",
        required=False,
        max_length=rosters.MAX_GROUP_NAME_LENGTH,
        help_text="Leave it empty to call the group by its members' names.",
    )


class MessageChangeForm(forms.Form):
    """Unsend or edit one's own message: where it is (its sort key, so the store finds it with
    one read; the store checks the uuid and the sender whatever this says), and for an edit the
    new text. No token: both changes are idempotent in the store."""

    sort_key = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)


class EditForm(MessageChangeForm):
    text = forms.CharField(label="Message", required=False, strip=False, widget=forms.Textarea)

    def clean_text(self):
        return services.clean_message_text(self.cleaned_data["text"])
