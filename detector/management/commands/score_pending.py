from django.core.management.base import BaseCommand

from detector.models import Submission
from detector.services import submission_requeue


class Command(BaseCommand):
    help = "Queue scoring again for submissions that are pending (e.g. after a broker outage) or failed."

    def add_arguments(self, parser):
        parser.add_argument("--failed-only", action="store_true", help="Only submissions whose scoring failed.")

    def handle(self, *args, failed_only=False, **options):
        statuses = [Submission.Status.FAILED] if failed_only else [Submission.Status.FAILED, Submission.Status.PENDING]
        count = 0
        for submission in Submission.objects.filter(status__in=statuses).order_by("id").iterator():
            if submission_requeue(submission=submission):
                count += 1
        self.stdout.write(f"Queued {count} submission(s) for scoring.")
