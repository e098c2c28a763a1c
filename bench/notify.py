"""python -m bench.notify: the emails about unread messages, measured (README "Email when away").

In one process, over a new PostgreSQL database (SQLite with --database sqlite), the in-memory
message store and Django's in-memory email backend, so that the figures are the app's own:
- what a send costs in SQL for a recipient who gets emails (the notice's one INSERT) beside one
  who does not (no write), counted with Django's CaptureQueriesContext;
- one worker's pass over `--count` due emails: emails per second and SQL queries per email;
- two workers' passes at once over as many: emails per second, and emails sent twice (0).

Writes the `<!-- bench:notify -->` block of docs/BENCHMARKS.md (`--doc`), and prints it.
`make bench` runs it after bench.run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def log(message: str) -> None:
    print(f"[bench.notify {time.strftime('%H:%M:%S')}] {message}", flush=True)


def measure(count: int, rounds: int) -> dict:
    from django.core import mail
    from django.core.management import call_command
    from django.db import connection, connections
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from messaging import services
    from messaging.domain import UserRef
    from messaging.store import get_store
    from notifications.models import UnreadNotice
    from notifications.services import send_due
    from users.models import User

    call_command("migrate", verbosity=0)
    store = get_store()

    def person(handle: str, *, emails: bool) -> User:
        return User.objects.create(
            handle=handle,
            display_name=handle.title(),
            email=f"{handle}@example.com",
            email_verified=emails,
        )

    def ref(user: User) -> UserRef:
        return UserRef(str(user.uuid), user.handle, user.display_name)

    sender = person("sender", emails=False)

    def conversations(prefix: str, total: int, *, emails: bool) -> list[str]:
        groups = []
        for number in range(total):
            reader = person(f"{prefix}{number}", emails=emails)
            group, _ = store.create_conversation(
                sender=ref(reader), recipient=ref(sender), text="hello"
            )
            groups.append(group)
        return groups

    def sql_per_send(groups: list[str]) -> list[int]:
        counts = []
        for group in groups:
            with CaptureQueriesContext(connection) as queries:
                services.send_message(sender=sender, conversation_uuid=group, text="are you there?")
            counts.append(len(queries.captured_queries))
        return counts

    log("what a send costs in SQL")
    quiet = sql_per_send(conversations("quiet", 50, emails=False))
    noted = sql_per_send(conversations("reader", count * (1 + 2 * rounds), emails=True))
    # Sends into a stretch that has its notice already: the INSERT finds it (ON CONFLICT).
    again = sql_per_send([str(n.conversation_uuid) for n in UnreadNotice.objects.all()[:50]])
    log(f"one send: {statistics.median(quiet)} SQL queries for a recipient without emails, "
        f"{statistics.median(noted)} with")  # fmt: skip

    notices = list(UnreadNotice.objects.order_by("pk").values_list("pk", flat=True))
    UnreadNotice.objects.update(due_at=timezone.now() - timedelta(seconds=1))
    batches = [notices[i * count : (i + 1) * count] for i in range(1 + 2 * rounds)]

    def due_only(batch: list[int]) -> None:
        """Only `batch` is due: the others are put off, so each measured pass has `count`."""
        UnreadNotice.objects.filter(sent_at__isnull=True).exclude(pk__in=batch).update(
            due_at=timezone.now() + timedelta(days=1)
        )
        UnreadNotice.objects.filter(pk__in=batch).update(
            due_at=timezone.now() - timedelta(seconds=1)
        )

    one_worker, per_email, two_workers, twice = [], [], [], []
    for round_ in range(rounds):
        due_only(batches[1 + 2 * round_])
        mail.outbox = []
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            done = send_due(limit=count)
            seconds = time.perf_counter() - started
        assert done.sent == count, done
        one_worker.append(count / seconds)
        per_email.append(len(queries.captured_queries) / count)

        due_only(batches[2 + 2 * round_])
        mail.outbox = []
        barrier = threading.Barrier(2)

        def worker(barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            try:
                send_due(limit=count)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=worker) for _ in range(2)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
        addresses = [address for email in mail.outbox for address in email.to]
        assert len(set(addresses)) == count, (len(set(addresses)), count)
        two_workers.append(count / seconds)
        twice.append(len(addresses) - len(set(addresses)))
        log(f"round {round_ + 1}/{rounds}: one worker {one_worker[-1]:.0f} emails/s, "
            f"{per_email[-1]:.1f} SQL per email; two workers {two_workers[-1]:.0f} emails/s, "
            f"{twice[-1]} sent twice")  # fmt: skip
    return {
        "count": count,
        "rounds": rounds,
        "database": connection.display_name,
        "send_sql_without_emails": statistics.median(quiet),
        "send_sql_with_emails": statistics.median(noted),
        "send_sql_notice_there": statistics.median(again),
        "one_worker_per_second": statistics.median(one_worker),
        "sql_per_email": statistics.median(per_email),
        "two_workers_per_second": statistics.median(two_workers),
        "sent_twice": sum(twice),
    }


def block(figures: dict, command: str) -> str:
    f = figures
    rows = [
        ("a send's SQL queries, recipient without emails", f"{f['send_sql_without_emails']:g}"),
        ("the same, recipient with emails (the notice)", f"{f['send_sql_with_emails']:g}"),
        ("the same, notice already there (ON CONFLICT)", f"{f['send_sql_notice_there']:g}"),
        ("one worker: emails claimed and sent per second", f"{f['one_worker_per_second']:.0f}"),
        ("one worker: SQL queries per email", f"{f['sql_per_email']:.1f}"),
        ("two workers at once: emails per second", f"{f['two_workers_per_second']:.0f}"),
        ("two workers at once: emails sent twice", f"{f['sent_twice']}"),
    ]
    lines = [
        f"`{command}`: {figures['count']} due emails per pass, medians of {figures['rounds']} "
        f"rounds, {figures['database']}, in-memory message store, in-memory email backend.",
        "",
        "| measure | figure |",
        "| --- | ---: |",
        *(f"| {name} | {value} |" for name, value in rows),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="Due emails per pass.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    args = parser.parse_args(argv)

    from bench.run import database

    with tempfile.TemporaryDirectory() as logs:
        name = f"cruddur_bench_notify_{uuid.uuid4().hex[:8]}"
        with database(args.database, name, Path(logs)) as (_, _, url):
            os.environ.update(
                DJANGO_SETTINGS_MODULE="bench.settings_memory",
                DATABASE_URL=url,
                DEBUG="false",
                SECRET_KEY="bench-notify-" + uuid.uuid4().hex,
                ALLOWED_HOSTS="127.0.0.1",
                REDIS_URL="",
                EMAIL_URL="memorymail://",  # Django's locmem backend: mail.outbox
            )
            import django

            django.setup()
            from django.db import connections

            try:
                figures = measure(args.count, args.rounds)
            finally:
                connections.close_all()
    command = os.environ.get("BENCH_COMMAND", "python -m bench.notify")
    text = block(figures, command)
    print(text)
    if args.doc:
        import re

        document = args.doc.read_text()
        pattern = re.compile(r"(<!-- bench:notify -->\n).*?(<!-- /bench:notify -->)", re.DOTALL)
        document, found = pattern.subn(lambda m: f"{m[1]}{text}\n{m[2]}", document)
        if not found:
            sys.exit(f"{args.doc} has no <!-- bench:notify --> block.")
        args.doc.write_text(document)


if __name__ == "__main__":
    main()
