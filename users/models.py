import unicodedata
import uuid

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

handle_validator = RegexValidator(
    r"^[A-Za-z0-9_]+$", "A handle may contain only letters, digits and underscores."
)


# Joiners that scripts and emoji sequences need; every other format character is invisible.
_KEPT_FORMAT_CHARACTERS = {"\u200c", "\u200d"}  # zero-width non-joiner, zero-width joiner


def visible_text(value: str) -> str:
    """`value` without control and invisible formatting characters (bidirectional overrides
    and isolates, zero-width spaces, byte-order marks...), which let one name pass for another
    or reorder the text around it; spaces trimmed."""
    return "".join(
        character
        for character in value
        if unicodedata.category(character) not in ("Cc", "Cf")
        or character in _KEPT_FORMAT_CHARACTERS
    ).strip()


# `handle__lower=` and `email__lower=` compare LOWER(column), which the case-insensitive unique
# indexes below hold; `__iexact` compares UPPER(column) on Postgres and reads every row.
models.CharField.register_lookup(Lower)


class UserManager(BaseUserManager):
    use_in_migrations = True

    def find_by_handle(self, handle: str, *, active_only: bool = True):
        """The user with this handle in any capitalisation, with or without a leading "@";
        None if there is none (or only an inactive one, unless `active_only` is off)."""
        handle = (handle or "").strip().removeprefix("@")
        if not handle:
            return None
        users = self.with_handle(handle)
        if active_only:
            users = users.filter(is_active=True)
        return users.first()

    def with_handle(self, handle: str):
        """The user with this handle in any capitalisation (handles are ASCII)."""
        return self.filter(handle__lower=handle.lower())

    def with_email(self, email: str):
        """The users with this email address in any capitalisation."""
        return self.filter(email__lower=Lower(models.Value(email.strip())))

    def get_by_natural_key(self, handle):
        # Log in with any capitalisation of the handle (the auth backend checks is_active).
        user = self.find_by_handle(handle, active_only=False)
        if user is None:
            raise self.model.DoesNotExist(f"No user @{handle}.")
        return user

    def create_user(self, handle, email="", password=None, **extra_fields):
        if not handle:
            raise ValueError("Users must have a handle.")
        user = self.model(handle=handle, email=self.normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, handle, email="", password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self.create_user(handle, email, password, **extra_fields)


BIO_MAX_LENGTH = 300


class WhoMayStart(models.TextChoices):
    EVERYONE = "everyone", "Everyone"
    KNOWN = "known", "Only people I already have a conversation with"


# The delays a person may choose for the emails about unread messages (seconds), besides the
# site's NOTIFY_DELAY_SECONDS.
EMAIL_UNREAD_DELAYS = (5 * 60, 10 * 60, 30 * 60, 60 * 60, 4 * 60 * 60)


def gets_unread_emails(*, is_active, deleted_at, email, email_verified, email_unread) -> bool:
    """The rule for the emails about unread messages, on a user's fields (users/profiles.py
    reads them as a row, not a model): an active account, not deleted, that wants them, with a
    verified address (`User.may_receive_email`)."""
    return bool(is_active and deleted_at is None and email_unread and email_verified and email)


class User(AbstractBaseUser, PermissionsMixin):
    # The uuid is the user's id everywhere, DynamoDB items included, so it never changes.
    uuid = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    handle = models.CharField(
        max_length=30,
        unique=True,
        error_messages={"unique": "That handle is already taken."},
        validators=[handle_validator],
        help_text="Letters, digits and underscores; used to log in and to find you.",
    )
    display_name = models.CharField(max_length=100)
    email = models.EmailField()
    email_verified = models.BooleanField(
        "email address verified",
        default=False,
        help_text="The owner opened the link sent to this address. Until then the address "
        "holds nothing: another account may take it by verifying it first.",
    )
    cognito_user_id = models.CharField(
        "Cognito id",
        max_length=255,
        unique=True,
        null=True,
        blank=True,
        help_text="The user's `sub` in the Cognito user pool, set by `manage.py cognito_sync`.",
    )
    bio = models.TextField(
        blank=True,
        max_length=BIO_MAX_LENGTH,
        help_text="Shown to people starting a conversation with you.",
    )
    date_joined = models.DateTimeField("joined", default=timezone.now)
    is_staff = models.BooleanField(
        "staff", default=False, help_text="Can log in to the admin site."
    )
    is_active = models.BooleanField(default=True)
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        help_text="An IANA time zone name (Europe/Paris); empty means UTC.",
    )
    deleted_at = models.DateTimeField(
        "account deleted",
        null=True,
        blank=True,
        help_text="Set when the person deleted their account: the profile is scrubbed, the "
        'handle retired, and others see "Deleted user".',
    )
    messages_purged_at = models.DateTimeField(
        "messages purged",
        null=True,
        blank=True,
        help_text="When `ddb_purge_user` removed this deleted account's messages from DynamoDB.",
    )
    who_may_start = models.CharField(
        "who may start a conversation with me",
        max_length=10,
        choices=WhoMayStart,
        default=WhoMayStart.EVERYONE,
    )

    # Emails about unread messages (notifications/): on unless turned off here or by the
    # one-click link in such an email; after how long, if not the site's NOTIFY_DELAY_SECONDS.
    email_unread = models.BooleanField(
        "email me about unread messages",
        default=True,
        help_text="One email per conversation when a message stays unread, with a link to it.",
    )
    email_unread_delay = models.PositiveIntegerField(
        "after",
        null=True,
        blank=True,
        help_text="Seconds a message stays unread before the email; empty: the site's default.",
    )

    objects = UserManager()

    USERNAME_FIELD = "handle"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["display_name", "email"]

    class Meta:
        ordering = ["handle"]
        # Finding every account with an address, verified or not (password resets, sign-up).
        indexes = [models.Index(Lower("email"), name="users_user_email_lower")]
        constraints = [
            models.UniqueConstraint(
                Lower("handle"),
                name="users_user_handle_ci_unique",
                violation_error_message="That handle is already taken.",
            ),
            # Only a verified address is held: an unverified one blocks no one.
            models.UniqueConstraint(
                Lower("email"),
                condition=~Q(email="") & Q(email_verified=True),
                name="users_user_verified_email_ci_unique",
                violation_error_message="An account with this email address already exists.",
            ),
        ]

    def __str__(self):
        return f"@{self.handle}"

    def clean(self):
        super().clean()
        self.display_name = visible_text(self.display_name)

    def save(self, *args, **kwargs):
        self.display_name = visible_text(self.display_name)
        # An empty Cognito id means "not linked"; store NULL so it never collides.
        self.cognito_user_id = self.cognito_user_id or None
        super().save(*args, **kwargs)

    def get_full_name(self):
        return self.display_name

    def get_short_name(self):
        return self.handle

    def has_email(self, email: str) -> bool:
        """Whether `email` is this account's address, in any capitalisation: another
        capitalisation of it is no new address (nothing to verify again, no password asked)."""
        return email.lower() == self.email.lower()

    @property
    def gets_unread_emails(self) -> bool:
        """Whether an unread message may bring this person an email (notifications/)."""
        return gets_unread_emails(
            is_active=self.is_active,
            deleted_at=self.deleted_at,
            email=self.email,
            email_verified=self.email_verified,
            email_unread=self.email_unread,
        )

    @property
    def may_receive_email(self) -> bool:
        """Whether the site may email this person anything beyond the verification link and
        the password resets they (or anyone) ask for: only once they proved the address is
        theirs. An unverified address may have been typed by a stranger, and its owner never
        asked for anything. Every new kind of email asks this first (docs/ACCOUNTS.md)."""
        return self.email_verified and bool(self.email)


class Block(models.Model):
    """`blocker` blocked `blocked`: no messages from them, in new or existing conversations."""

    blocker = models.ForeignKey(User, on_delete=models.CASCADE, related_name="blocks_made")
    blocked = models.ForeignKey(User, on_delete=models.CASCADE, related_name="blocked_by")
    created_at = models.DateTimeField("blocked at", default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["blocker", "blocked"], name="users_block_once"),
            models.CheckConstraint(
                condition=~Q(blocker=models.F("blocked")), name="users_block_not_self"
            ),
        ]

    def __str__(self):
        return f"{self.blocker} blocked {self.blocked}"


class HandleHold(models.Model):
    """A handle someone renamed away from, kept for them until `held_until`: no one else may
    take it meanwhile, and links with it say where its owner went (HANDLE_HOLD_DAYS)."""

    handle = models.CharField(max_length=30)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="handle_holds")
    held_until = models.DateTimeField()

    class Meta:
        ordering = ["-held_until"]
        constraints = [
            models.UniqueConstraint(Lower("handle"), name="users_handlehold_handle_ci_unique")
        ]

    def __str__(self):
        return f"@{self.handle} held for {self.user} until {self.held_until:%Y-%m-%d}"
