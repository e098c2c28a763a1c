from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "users"
    verbose_name = "Users"

    def ready(self):
        from . import names  # noqa: F401  (connects the name cache's signal handlers)
