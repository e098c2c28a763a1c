"""The Cognito client: the only code in the project that talks to Cognito (cognito-idp).

It returns `CognitoUser` dataclasses, never raw `Attributes` lists, and turns AWS errors into
`CognitoError` subclasses whose message is one sentence a person can act on.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import boto3
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from django.conf import settings

from cruddur.aws import client_kwargs, is_aws, is_local_emulator
from cruddur.errors import ServiceError

# The pool `make run` creates in the local emulator.
LOCAL_USER_POOL_NAME = "cruddur-local"

# AWS rejects a ListUsers Limit above 60; moto accepts more, so clamp it ourselves.
MAX_PAGE_SIZE = 60


class CognitoError(ServiceError):
    """Base class; `str(error)` is one sentence a person can act on."""


class NotConfigured(CognitoError):
    """A setting or credential the call needs is missing."""


class UserPoolNotFound(CognitoError):
    """The user pool does not exist (in this region, at this endpoint)."""


class CognitoUnavailable(CognitoError):
    """Cognito cannot be reached."""


@dataclass(frozen=True)
class CognitoUser:
    username: str
    sub: str
    preferred_username: str | None
    email: str | None


@dataclass(frozen=True)
class NewCognitoUser:
    """A user to create in the local emulator's pool."""

    username: str
    preferred_username: str
    email: str
    name: str


def get_client(*, prod: bool = False):
    """The cognito-idp client for the current settings (prod=True ignores AWS_ENDPOINT_URL)."""
    endpoint_url = None if prod else settings.AWS_ENDPOINT_URL
    return _build_client(endpoint_url, settings.AWS_DEFAULT_REGION, settings.AWS_MAX_ATTEMPTS)


# Built on first use, never at import time (moto must be started before a client is made),
# and cached per configuration so a process makes one client however many calls it does.
@functools.cache
def _build_client(endpoint_url: str | None, region: str, max_attempts: int):
    # A session of its own: credentials are looked up now, not reused from boto3's global one.
    return boto3.session.Session().client(
        "cognito-idp",
        **client_kwargs(
            endpoint_url=endpoint_url,
            region=region,
            max_attempts=max_attempts,
            connect_timeout=3,
            read_timeout=10,
        ),
    )


def list_users(*, user_pool_id: str, prod: bool = False) -> list[CognitoUser]:
    """Every user in the pool, following every PaginationToken (at most 60 per call)."""
    client = get_client(prod=prod)
    user_pool_id = _resolve_user_pool_id(client, user_pool_id, prod=prod)
    paginator = client.get_paginator("list_users")
    pages = paginator.paginate(
        UserPoolId=user_pool_id, PaginationConfig={"PageSize": MAX_PAGE_SIZE}
    )
    with _translated_errors(client, user_pool_id=user_pool_id):
        return [_to_cognito_user(raw) for page in pages for raw in page["Users"]]


def delete_user(*, user_pool_id: str, sub: str, prod: bool = False) -> bool:
    """Disable, then delete, the pool user whose `sub` this is: True if there was one, False
    if it is gone already (which counts as done, so a retry is harmless).

    Disabled first so that, should the delete fail, the person can no longer sign in. AWS
    accepts a local user's sub as Username, but moto does not, so the user is found by a
    `sub = "..."` ListUsers filter, which both support.
    """
    client = get_client(prod=prod)
    user_pool_id = _resolve_user_pool_id(client, user_pool_id, prod=prod)
    with _translated_errors(client, user_pool_id=user_pool_id):
        quoted = sub.replace("\\", "\\\\").replace('"', '\\"')
        found = client.list_users(UserPoolId=user_pool_id, Filter=f'sub = "{quoted}"', Limit=1)
        if not found["Users"]:
            return False
        username = found["Users"][0]["Username"]
        try:
            client.admin_disable_user(UserPoolId=user_pool_id, Username=username)
            client.admin_delete_user(UserPoolId=user_pool_id, Username=username)
        except client.exceptions.UserNotFoundException:
            return False  # deleted meanwhile (another run, or by hand)
    return True


def create_local_user_pool(*, name: str, users: Iterable[NewCognitoUser]) -> str:
    """Create (or reuse, by name) a pool in the LOCAL emulator holding `users`; its id.

    Idempotent: a username that already exists is left as it is.
    """
    if not settings.AWS_ENDPOINT_URL:
        raise NotConfigured(
            "AWS_ENDPOINT_URL is not set, so this would create a user pool in real AWS: "
            "point AWS_ENDPOINT_URL at the local emulator (see .env.example)."
        )
    client = get_client()
    with _translated_errors(client):
        pool_id = _find_user_pool(client, name=name)
        if pool_id is None:
            pool_id = client.create_user_pool(PoolName=name)["UserPool"]["Id"]
        for user in users:
            # An existing username is left as it is: running this twice changes nothing.
            with suppress(client.exceptions.UsernameExistsException):
                client.admin_create_user(
                    UserPoolId=pool_id,
                    Username=user.username,
                    UserAttributes=[
                        {"Name": "preferred_username", "Value": user.preferred_username},
                        {"Name": "email", "Value": user.email},
                        {"Name": "name", "Value": user.name},
                    ],
                    MessageAction="SUPPRESS",
                )
    return pool_id


def _resolve_user_pool_id(client, user_pool_id: str, *, prod: bool) -> str:
    """`user_pool_id`, or locally (no id given) the pool `make run` created."""
    if not user_pool_id and not prod and is_local_emulator(client.meta.endpoint_url):
        # Locally, `make run` creates the pool with a fresh id each time: find it by name.
        with _translated_errors(client):
            user_pool_id = _find_user_pool(client, name=LOCAL_USER_POOL_NAME)
    if not user_pool_id:
        raise NotConfigured(
            "AWS_COGNITO_USER_POOL_ID is not set: set it to your user pool id "
            "(e.g. us-east-1_AbC123) in .env or the environment."
        )
    return user_pool_id


def _find_user_pool(client, *, name: str) -> str | None:
    pages = client.get_paginator("list_user_pools").paginate(
        PaginationConfig={"PageSize": MAX_PAGE_SIZE}
    )
    for page in pages:
        for pool in page["UserPools"]:
            if pool["Name"] == name:
                return pool["Id"]
    return None


def _to_cognito_user(raw: dict) -> CognitoUser:
    attributes = {attribute["Name"]: attribute["Value"] for attribute in raw["Attributes"]}
    return CognitoUser(
        username=raw["Username"],
        sub=attributes["sub"],
        preferred_username=attributes.get("preferred_username") or None,
        email=attributes.get("email") or None,
    )


@contextmanager
def _translated_errors(client, *, user_pool_id: str | None = None):
    """Turn botocore errors raised inside the block into CognitoError subclasses."""
    try:
        yield
    except (BotoCoreError, ClientError) as error:
        raise _translate(
            error,
            endpoint=client.meta.endpoint_url,
            region=client.meta.region_name,
            user_pool_id=user_pool_id,
        ) from error


def _translate(
    error: BotoCoreError | ClientError, *, endpoint: str, region: str, user_pool_id: str | None
) -> CognitoError:
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        if code == "ResourceNotFoundException" and user_pool_id:
            return UserPoolNotFound(
                f"User pool {user_pool_id} does not exist in region {region} at {endpoint}: "
                "check AWS_COGNITO_USER_POOL_ID and AWS_DEFAULT_REGION."
            )
        return CognitoError(f"Cognito refused the request ({code}: {_one_line(message)}).")
    if isinstance(error, NoCredentialsError):
        return NotConfigured(
            "No AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(any value works for the local emulator) or AWS_PROFILE."
        )
    if isinstance(error, EndpointConnectionError | ConnectionClosedError | ReadTimeoutError):
        if is_aws(endpoint):
            return CognitoUnavailable(
                f"Cannot reach Cognito at {endpoint}: check your network connection."
            )
        return CognitoUnavailable(
            f"Cannot reach Cognito at {endpoint}: is the local stack running? `make run`"
        )
    return CognitoError(f"Cognito call failed: {_one_line(str(error))}")


def _one_line(text: str) -> str:
    return " ".join(text.split())
