from django.apps import AppConfig


class ManagementConfig(AppConfig):
    name = "management"
    verbose_name = "Operational commands"
