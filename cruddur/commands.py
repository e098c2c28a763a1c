"""The shared base of the operational commands."""

import sys

from django.core.management.base import BaseCommand, CommandError

from cruddur.errors import ServiceError


class AwsCommand(BaseCommand):
    """A command that talks to AWS (or the local emulator).

    Adds `--prod` (ignore AWS_ENDPOINT_URL and talk to real AWS, like the original scripts'
    `prod` argument) and turns the project's service errors into a one-line CommandError.
    """

    destructive = False  # if so, it asks first (confirm) unless given --no-input

    def add_arguments(self, parser):
        parser.add_argument(
            "--prod",
            action="store_true",
            help="Talk to real AWS: ignore AWS_ENDPOINT_URL (the local emulator).",
        )
        if self.destructive:
            parser.add_argument(
                "--no-input",
                "--noinput",
                action="store_false",
                dest="interactive",
                help="Do not ask for confirmation.",
            )

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except ServiceError as error:
            raise CommandError(str(error)) from error

    def confirm(self, question: str, *, no_input: bool) -> bool:
        """Ask a yes/no question unless --no-input was given; with no terminal to ask on,
        refuse (a CommandError) rather than guess."""
        if no_input:
            return True
        if not sys.stdin or not sys.stdin.isatty():
            raise CommandError(
                "This command asks before it deletes anything, and there is no terminal to "
                "ask on: run it in a terminal, or pass --no-input to confirm."
            )
        answer = input(f"{question} Type 'yes' to continue: ")
        return answer.strip().lower() == "yes"
