"""Test helpers for Cognito user pools in moto (in-process or its server)."""

from users import cognito


def make_pool(users=()):
    """A user pool holding `users`: (username, {attribute: value}) pairs; returns its id."""
    client = cognito.get_client()
    pool_id = client.create_user_pool(PoolName="test-pool")["UserPool"]["Id"]
    for username, attributes in users:
        client.admin_create_user(
            UserPoolId=pool_id,
            Username=username,
            UserAttributes=[{"Name": k, "Value": v} for k, v in attributes.items()],
            MessageAction="SUPPRESS",
        )
    return pool_id


def person(handle, *, username=None, email=None):
    """A pool user for the local account `make_user(handle)` makes: its preferred_username is
    the handle and its email the account's, so cognito_sync links the two."""
    return (
        username or handle,
        {"preferred_username": handle, "email": email or f"{handle.lower()}@example.com"},
    )


def usernames(pool_id):
    """{username: enabled} of every user in the pool."""
    client = cognito.get_client()
    pages = client.get_paginator("list_users").paginate(UserPoolId=pool_id)
    return {user["Username"]: user["Enabled"] for page in pages for user in page["Users"]}
