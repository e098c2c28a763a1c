"""The DynamoDB message store: the only code in the project that talks to DynamoDB.

Words: a *conversation* in our code is a *message group* in DynamoDB and in the original
(`message_group_uuid`); a person's *inbox entry* for it is a *group item* (`GRP#<owner>`).

Key schema (single table, compatible with the original `cruddur-messages` tables)
------------------------------------------------------------------------------
Table `settings.DDB_MESSAGE_TABLE`: `pk` (S, HASH), `sk` (S, RANGE).
GSI `message-group-sk-index`: `message_group_uuid` (HASH), `sk` (RANGE), projection ALL.

| item            | pk                      | sk                 | attributes                                   |
|-----------------|-------------------------|--------------------|----------------------------------------------|
| inbox entry     | GRP#<owner_uuid>        | last message time  | message_group_uuid, message (last text),      |
| (group item,    |                         |                    | user_uuid/user_display_name/user_handle of    |
| one per owner)  |                         |                    | the OTHER person; unread (N, optional);       |
|                 |                         |                    | last_read_sk (S, optional): the sk the owner  |
|                 |                         |                    | last read up to (set by mark_read);           |
|                 |                         |                    | last_message_unsent (BOOL, optional): the     |
|                 |                         |                    | last message was unsent (message is "")       |
| hidden entry    | GRP#<owner_uuid>        | #HIDDEN#<time>#    | as an inbox entry, read (unread 0); below     |
|                 |                         | <conversation>     | every time key, so the inbox never reads it   |
| message         | MSG#<message_group_uuid>| created_at         | message_uuid, message, user_uuid,             |
|                 |                         |                    | user_display_name, user_handle of the SENDER; |
|                 |                         |                    | edited_at (S, optional); unsent_at (S,        |
|                 |                         |                    | optional; then message is "")                 |
| change record   | CHG#<message_group_uuid>| <changed at>#      | message_sk, expires_at (TTL, a day); no text: |
|                 |                         | <message_uuid>     | an edit or unsend, for polling pages          |
| pair            | PAIR#<uuid_a>#<uuid_b>  | PAIR               | group_uuid (NOT message_group_uuid, so the    |
|                 | (a < b as strings)      |                    | sparse GSI never holds it)                    |
| unread counter  | GRP#<owner_uuid>        | UNREAD             | conversations (N): entries with unread > 0    |
| group roster    | ROSTER#<group uuid>     | ROSTER             | group_uuid, group_name, members (L of M:      |
|                 |                         |                    | uuid, handle, display_name, joined_sk for     |
|                 |                         |                    | those added later), version (N): every write  |
|                 |                         |                    | moving a group's entries checks it            |

A group member's inbox entry is an inbox entry whose user_uuid is the GROUP's uuid (user_handle
the other members' handles, user_display_name its title), with kind = "group", group_name,
members, last_user_uuid and joined_sk (sk >= joined_sk is what they may read); a roster
change is a message with `event` (added / left / renamed). See `groups.py`.

Sort keys are UTC, fixed width, microseconds always present: `2026-11-21T13:05:09.000000+00:00`
(`messaging.domain.format_sort_key`). Message items carry no `message_group_uuid`, so the GSI
holds inbox entries only: a GSI query by conversation returns its members' entries (two for a
pair).

Access patterns (the original's letters)
----------------------------------------
A  a conversation's messages, newest first: Query `pk = MSG#<c>`, ScanIndexForward false
   (`DynamoStore.list_messages`);
B  a person's conversations, newest first: Query `pk = GRP#<u> AND sk >= "0"` (hidden entries,
   `#HIDDEN#...`, sort below "0"), the UNREAD counter read in the same request
   (`DynamoStore.list_conversations`);
C  create a message (`DynamoStore.create_message`, `create_conversation`);
D  move both inbox entries to the new message: `sk` is a key, so a delete + put of each
   (`actions.moved_entries`). C and D are one `TransactWriteItems`, conditioned on the entries
   being exactly as read; on a conflict the store reads again and retries with backoff.
   `DynamoStore.advance_inboxes` applies D alone for the optional Streams handler. D also
   brings a hidden entry back: it deletes the entry at whatever key it has.

Hide, unsend and edit are one `TransactWriteItems` each (`DynamoStore.hide_conversation`,
`unsend_message`, `edit_message`); their costs are in the README's "DynamoDB design".

Modules, each with one reason to change
---------------------------------------
items     key formats, cursors and the item codec (the only place that knows attribute names)
table     the client choke point: calls, error translation, paging, batch writes, transactions
actions   transaction actions several writes share (pattern D, the unread counter)
groups    a group's start and roster changes as transaction actions
store     the access patterns by name (`DynamoStore`, the `MessageStore` interface)
jobs      the unread repair and the bulk import
migrate   bring a table written by the original up to date (`ddb_migrate`)
purge     remove a deleted person's messages and inbox entries (`ddb_purge_user`)
schema    create/drop the table, list tables, scan, describe
metering  each call's capacity, added to the request's tally (cruddur/request_cost.py)
factory   settings and the cached clients (`get_dynamo_store`, `get_table`)
"""  # noqa: E501 (the key-schema table is wider than a line)

from .factory import get_dynamo_store, get_table, reset_dynamo_stores
from .metering import item_size
from .store import DynamoStore

__all__ = [
    "DynamoStore",
    "get_dynamo_store",
    "get_table",
    "item_size",
    "reset_dynamo_stores",
]
