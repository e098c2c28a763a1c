"""What the two AWS adapters (messaging.dynamo, users.cognito) share: defaults, where a client
talks to, and how it is configured. No boto3 here: each adapter builds its own client.

Retry budgets (attempts per call, the first one included; a send that loses a race to other
senders is planned again up to 25 times, `messaging/dynamo/table.py`):

- `AWS_MAX_ATTEMPTS` (default `DEFAULT_MAX_ATTEMPTS`, 4): botocore's retries in `standard`
  mode, whose back-off after throttling is up to 1, 2, 4 s: ~7 s of waiting. For what can
  wait: sends (a person would rather wait than see "try again"; a retried send stores once),
  Cognito, commands, jobs and the DynamoDB Streams handler.
- `INTERACTIVE_MAX_ATTEMPTS` (2, never more than `AWS_MAX_ATTEMPTS`): what a page or a live
  poll waits on: every DynamoDB read, and marking a conversation read. One retry
  (botocore: at most ~1 s after throttling), and a conditional write that loses a race is
  planned again once; past that the page shows what it read, or says the store is
  unavailable, instead of waiting seconds. The DynamoDB store builds a second client for
  these calls (messaging/dynamo/factory.py).
"""

from urllib.parse import urlsplit

from botocore.config import Config

DEFAULT_REGION = "us-east-1"
DEFAULT_MAX_ATTEMPTS = 4
INTERACTIVE_MAX_ATTEMPTS = 2
DEFAULT_MESSAGE_TABLE = "cruddur-messages"

_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def is_local_emulator(endpoint_url: str | None) -> bool:
    return urlsplit(endpoint_url or "").hostname in _LOOPBACK_HOSTS


def is_aws(endpoint_url: str | None) -> bool:
    """Whether a client's (resolved) endpoint is AWS itself rather than an emulator."""
    return (urlsplit(endpoint_url or "").hostname or "").endswith(".amazonaws.com")


def emulator_credentials(endpoint_url: str | None) -> dict[str, str]:
    """Client keyword arguments with stand-in credentials for an emulator on this machine.

    moto accepts any credentials, so a fresh shell can run `manage.py ddb_scan` without
    exporting fake keys, and such keys never end up in .env where they would shadow real
    ones for --prod. Any other endpoint (real AWS, a VPC endpoint) gets the normal chain.
    """
    if not is_local_emulator(endpoint_url):
        return {}
    return {"aws_access_key_id": "local-emulator", "aws_secret_access_key": "local-emulator"}


def interactive_attempts(max_attempts: int) -> int:
    """The attempts of a call a page waits on, given `AWS_MAX_ATTEMPTS` (1 there means 1)."""
    return min(max_attempts, INTERACTIVE_MAX_ATTEMPTS)


def client_kwargs(
    *,
    endpoint_url: str | None,
    region: str,
    max_attempts: int,
    connect_timeout: float,
    read_timeout: float,
    max_pool_connections: int = 10,
) -> dict:
    """The keyword arguments of `Session().client(service, ...)` for this project's clients."""
    config = Config(
        # botocore's default "legacy" mode retries for ~25 s; "standard" is bounded.
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_pool_connections=max_pool_connections,
        # Settings are the one source of the endpoint: botocore would otherwise also read
        # AWS_ENDPOINT_URL from the environment (and .env puts it there), even for --prod.
        ignore_configured_endpoint_urls=True,
    )
    return {
        "endpoint_url": endpoint_url,
        "region_name": region,
        "config": config,
        **emulator_credentials(endpoint_url),
    }
