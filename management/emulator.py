"""The local AWS emulator for `make run`: moto's server with DynamoDB requests isolated.

moto runs each HTTP request on its own thread and applies a TransactWriteItems item by item,
so two concurrent transactions can both pass their conditions. AWS isolates transactions; one
lock around moto's DynamoDB handler gives the same guarantee locally. Everything else is
moto's own server: DynamoDB, DynamoDB Streams and Cognito on one port.

Usage: python -m management.emulator [--host 127.0.0.1] [--port 5001]
(Development only: moto is in requirements-dev.txt, and nothing in the app imports this.)
"""

import argparse
import threading

from moto.dynamodb.responses import DynamoHandler
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.server import MotoRequestHandler
from werkzeug.serving import run_simple


def isolated(call_action):
    """moto's DynamoDB request handler, one request at a time (as AWS isolates each request)."""
    lock = threading.Lock()

    def isolated_call_action(self):
        with lock:
            return call_action(self)

    return isolated_call_action


def isolate_dynamodb_requests() -> None:
    DynamoHandler.call_action = isolated(DynamoHandler.call_action)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
    parser.add_argument("--port", type=int, default=5001, help="Port to listen on.")
    args = parser.parse_args()
    isolate_dynamodb_requests()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
