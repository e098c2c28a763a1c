"""Reading a uuid that came from outside: written once, for both apps.

Ids in paths are parsed by Django's `<uuid:…>` converter; what is left arrives as text from
a form (a token, a person), a command line, or an item that code other than ours may have
written. Such text is taken in any spelling `uuid.UUID` accepts; anything else is not an id.
"""

from __future__ import annotations

import uuid


def parse_uuid(value: object) -> uuid.UUID | None:
    """`value` as a UUID, or None if it is not one."""
    try:
        return uuid.UUID(str(value)) if value is not None else None
    except ValueError:
        return None
