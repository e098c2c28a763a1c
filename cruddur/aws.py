"""What the two AWS adapters (messaging.gateway, users.cognito) share. No boto3 here."""

from urllib.parse import urlsplit

_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def is_local_emulator(endpoint_url: str | None) -> bool:
    return urlsplit(endpoint_url or "").hostname in _LOOPBACK_HOSTS


def emulator_credentials(endpoint_url: str | None) -> dict[str, str]:
    """Client keyword arguments with stand-in credentials for an emulator on this machine.

    moto accepts any credentials, so a fresh shell can run `manage.py ddb_scan` without
    exporting fake keys, and such keys never end up in .env where they would shadow real
    ones for --prod. Any other endpoint (real AWS, a VPC endpoint) gets the normal chain.
    """
    if not is_local_emulator(endpoint_url):
        return {}
    return {"aws_access_key_id": "local-emulator", "aws_secret_access_key": "local-emulator"}
