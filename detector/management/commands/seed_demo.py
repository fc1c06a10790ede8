import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from aiornot_site.roles import ADMINS, REVIEWERS, SUBMITTERS
from detector.roles_setup import role_groups_ensure

DEMO_USERS = [("submitter", [SUBMITTERS]), ("reviewer", [REVIEWERS]), ("reviewer2", [REVIEWERS]), ("admin", [ADMINS])]


class Command(BaseCommand):
    help = (
        "Create demo users (submitter, reviewer, reviewer2, admin) with fresh random passwords, "
        "printed once. Only for trying aiornot on one machine; does nothing if they exist."
    )

    def add_arguments(self, parser):
        parser.add_argument("--password", help="Use this password for all demo users instead of random ones.")

    def handle(self, *args, password=None, **options):
        role_groups_ensure()
        User = get_user_model()
        made = []
        for username, groups in DEMO_USERS:
            if User.objects.filter(username=username).exists():
                continue
            pw = password or secrets.token_urlsafe(9)
            user = User.objects.create_user(username=username, password=pw)
            user.groups.add(*Group.objects.filter(name__in=groups))
            if ADMINS in groups:
                user.is_staff = True
                user.save(update_fields=["is_staff"])
            made.append((username, pw))
        if not made:
            self.stdout.write("Demo users already exist; passwords are unchanged (use `manage.py changepassword`).")
            return
        self.stdout.write(self.style.SUCCESS("Demo users (write these down; they are not shown again):"))
        for username, pw in made:
            self.stdout.write(f"  {username:10s} {pw}")
