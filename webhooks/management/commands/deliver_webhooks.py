"""Send the webhook deliveries whose time has come."""

from django.core.management.base import BaseCommand

from webhooks.services import deliveries_send_due


class Command(BaseCommand):
    help = (
        "Queue every pending webhook delivery that is due: retries when tasks run without a "
        "broker (run it from cron every minute), and deliveries whose task was lost."
    )

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=1000, help="most deliveries to queue in one run")

    def handle(self, *args, limit: int, **options):
        count = deliveries_send_due(limit=limit)
        self.stdout.write(f"Queued {count} due webhook deliver{'y' if count == 1 else 'ies'}.")
