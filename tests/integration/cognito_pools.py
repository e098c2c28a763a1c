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
