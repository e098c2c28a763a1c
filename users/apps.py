from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "users"
    verbose_name = "Users"

    def ready(self):
        from . import lockout, profiles  # noqa: F401  (connect their signal handlers)
