"""What the message store raises: every implementation raises these, and views and commands
turn them into answers (a 404, a 503 page, a CommandError) in one place each."""

from cruddur.errors import ServiceError


class StoreError(ServiceError):
    """Base class; `str(error)` is one sentence a person can act on."""


class NotFound(StoreError):
    """The table, or the requested conversation, does not exist."""


class TableNotFound(NotFound):
    """The messages table does not exist (run `manage.py ddb_schema_load`)."""


class Conflict(StoreError):
    """A conditional write kept losing to concurrent writers beyond the retry budget."""


class NotEditable(StoreError):
    """The message can no longer be edited: it was unsent, or its edit window has closed."""


class Unavailable(StoreError):
    """The store cannot be reached: endpoint down, no credentials, network error."""


class Throttled(Unavailable):
    """The store kept throttling beyond the client's retries."""


class InvalidCursor(StoreError):
    """A cursor that is malformed or belongs to another list."""


class GroupFull(StoreError):
    """An add would take a group past its cap (`max_members`, settings.GROUP_MAX_MEMBERS)."""

    def __init__(self, max_members: int):
        super().__init__(
            f"A group can have at most {max_members} people; this one has no room for them all."
        )
        self.max_members = max_members
