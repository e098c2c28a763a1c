from django.apps import AppConfig


class CruddurConfig(AppConfig):
    """The project package as an app, for what concerns the whole deployment rather than one
    app: the system checks on its settings (cruddur/checks.py). No models, no templates."""

    name = "cruddur"
    verbose_name = "Cruddur"

    def ready(self):
        from . import checks  # noqa: F401  (registers the deploy checks)
