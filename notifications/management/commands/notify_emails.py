"""notify_emails: send the emails about unread messages that are due (notifications/services.py).

As a worker (the default) it makes a pass, sleeps NOTIFY_INTERVAL_SECONDS, and again, until
SIGTERM or Ctrl-C, which it obeys between two emails; `--once` makes one pass and exits, for
cron or a scheduled task. Any number of workers may run at once: each due notice is claimed
with `SELECT … FOR UPDATE SKIP LOCKED`, so two workers never send the same email.
"""

import signal
import threading
import time

from django.conf import settings
from django.core.management.base import CommandError
from django.db import DatabaseError

from cruddur.commands import AwsCommand
from cruddur.errors import ServiceError
from notifications.services import send_due


class Command(AwsCommand):
    help = (
        "Send the emails about unread messages that are due: one per conversation whose "
        "messages stayed unread for the person's delay (NOTIFY_DELAY_SECONDS by default). "
        "Runs as a worker, a pass every NOTIFY_INTERVAL_SECONDS until stopped; --once for "
        "one pass. Several may run at once: none sends an email another sent."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--once", action="store_true", help="One pass, then exit.")
        parser.add_argument(
            "--batch",
            type=int,
            default=100,
            help="The most emails one pass sends before the next (default 100).",
        )

    def handle(self, *args, once=False, batch=100, verbosity=1, **options):
        if batch < 1:
            raise CommandError("--batch must be at least 1.")
        stop = threading.Event()
        if not once:
            for sign in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sign, lambda *_: stop.set())
            self.stdout.write(
                f"notify_emails: a pass every {settings.NOTIFY_INTERVAL_SECONDS:g} s "
                "(Ctrl-C stops)."
            )
        while not stop.is_set():
            started = time.monotonic()
            try:
                done = send_due(limit=batch)
            except (DatabaseError, ServiceError) as error:
                if once:
                    raise CommandError(f"Could not send the due emails: {error}") from error
                self.stderr.write(f"notify_emails: pass failed, trying again: {error}")
            else:
                if once or verbosity > 1 or done.sent or done.dropped or done.failed:
                    self.stdout.write(
                        f"notify_emails: {done.sent} sent, {done.dropped} no longer due, "
                        f"{done.failed} failed (tried again later) "
                        f"in {time.monotonic() - started:.2f} s"
                    )
                if once:
                    return
                if done.sent + done.dropped + done.failed >= batch:
                    continue  # more are due: no sleep
            stop.wait(settings.NOTIFY_INTERVAL_SECONDS)
