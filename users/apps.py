from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "users"
    verbose_name = "Users"

    def ready(self):
        from . import profiles  # noqa: F401  (connects the profile cache's signal handlers)
