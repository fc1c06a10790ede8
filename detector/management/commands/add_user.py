import getpass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from aiornot_site.roles import ADMINS, ROLE_NAMES
from detector.roles_setup import role_groups_ensure


class Command(BaseCommand):
    help = "Create a user with a role (submitter, reviewer or admin), or add the role to an existing user."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=sorted(ROLE_NAMES))
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--password", help="Password (prompted for when omitted; avoid on shared machines: it shows in ps)."
        )

    def handle(self, *args, username, role, email, password, **options):
        username = username.strip()
        if not username or len(username) > 150:
            raise CommandError("The username must be 1 to 150 characters.")
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            if password is None:
                try:
                    password = getpass.getpass(f"Password for {username}: ")
                except (EOFError, KeyboardInterrupt):
                    raise CommandError(
                        "No password given: pass --password, or run the command in a terminal to be asked for one."
                    ) from None
            candidate = User(username=username, email=email)
            try:
                validate_password(password, candidate)
            except ValidationError as exc:
                raise CommandError("Password refused: " + " ".join(exc.messages)) from None
        role_groups_ensure()
        with transaction.atomic():
            if user is None:
                user = User.objects.create_user(username=username, email=email, password=password)
                created = True
            else:
                created = False
            user.groups.add(Group.objects.get(name=ROLE_NAMES[role]))
            if ROLE_NAMES[role] == ADMINS and not user.is_staff:
                user.is_staff = True
                user.save(update_fields=["is_staff"])
        verb = "Created" if created else "Updated"
        self.stdout.write(self.style.SUCCESS(f"{verb} {username} with role {role}."))
