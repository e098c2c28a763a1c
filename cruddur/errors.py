"""The root of the project's own errors for outside services (DynamoDB, Cognito).

Adapters raise subclasses whose message is one sentence a person can act on; commands turn
them into CommandError, views into 404/503 pages.
"""


class ServiceError(Exception):
    pass
