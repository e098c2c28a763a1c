from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from . import names, services
from .forms import AdminUserChangeForm, AdminUserCreationForm
from .models import Block, HandleHold, User


class CognitoLinkedFilter(admin.SimpleListFilter):
    title = "Cognito"
    parameter_name = "cognito"

    def lookups(self, request, model_admin):
        return [("linked", "Linked"), ("unlinked", "Not linked")]

    def queryset(self, request, queryset):
        if self.value() == "linked":
            return queryset.filter(cognito_user_id__isnull=False)
        if self.value() == "unlinked":
            return queryset.filter(cognito_user_id__isnull=True)
        return queryset


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = AdminUserChangeForm
    add_form = AdminUserCreationForm
    list_display = ["handle", "display_name", "email", "cognito_user_id", "date_joined", "is_staff"]
    list_filter = [
        CognitoLinkedFilter,
        "email_verified",
        "is_staff",
        "is_superuser",
        "is_active",
        "deleted_at",
    ]
    actions = ["delete_accounts"]
    search_fields = ["handle", "display_name", "email", "cognito_user_id"]
    ordering = ["handle"]
    readonly_fields = ["uuid", "date_joined", "last_login", "deleted_at", "messages_purged_at"]
    fieldsets = [
        (None, {"fields": ["uuid", "handle", "password"]}),
        (
            "Profile",
            {
                "fields": [
                    "display_name",
                    "email",
                    "email_verified",
                    "bio",
                    "time_zone",
                    "cognito_user_id",
                ]
            },
        ),
        ("Messages", {"fields": ["who_may_start", "email_unread", "email_unread_delay"]}),
        (
            "Permissions",
            {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
        ("Dates", {"fields": ["last_login", "date_joined", "deleted_at", "messages_purged_at"]}),
    ]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        old_handle = form.initial.get("handle")
        if change and old_handle and "handle" in form.changed_data:
            names.renamed(user=obj, old_handle=old_handle)

    @admin.action(
        description="Delete the selected accounts as their owners would (keep conversations)",
        permissions=["change"],
    )
    def delete_accounts(self, request, queryset):
        """What "Delete my account" does, for each selected user: scrubbed, deactivated,
        logged out everywhere, the handle retired (Django's own delete frees the handle)."""
        deleted = 0
        for user in queryset.filter(deleted_at__isnull=True):
            if user.pk == request.user.pk:
                self.message_user(
                    request, "You cannot delete your own account here.", messages.ERROR
                )
                continue
            services.delete_account(user)
            deleted += 1
        self.message_user(request, f"Deleted {deleted} account(s).", messages.SUCCESS)

    add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": ["handle", "display_name", "email", "password1", "password2"],
            },
        ),
    ]


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin):
    list_display = ["blocker", "blocked", "created_at"]
    search_fields = ["blocker__handle", "blocked__handle"]
    raw_id_fields = ["blocker", "blocked"]
    date_hierarchy = "created_at"


@admin.register(HandleHold)
class HandleHoldAdmin(admin.ModelAdmin):
    """Handles kept for people who renamed away from them; delete one to free it early."""

    list_display = ["handle", "user", "held_until"]
    search_fields = ["handle", "user__handle"]
    raw_id_fields = ["user"]
