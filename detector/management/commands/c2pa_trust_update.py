"""Install a C2PA trust list an admin downloaded, or show the lists in force."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from detector.c2pa_trust import TrustListRejected, shipped_list_keys, trust_list_install, trust_lists_in_force


class Command(BaseCommand):
    help = (
        "Check a downloaded C2PA trust list (PEM certificates) and make it the list in force, "
        "atomically; a bad file is refused and the old list kept. --show lists what is in force."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", help="PEM file of CA certificates, e.g. C2PA-TRUST-LIST.pem")
        parser.add_argument(
            "--list", dest="key", default="c2pa", choices=shipped_list_keys(),
            help="which list the file replaces (default: c2pa, the official C2PA Trust List)",
        )
        parser.add_argument("--date", help="the list's issue date, YYYY-MM-DD (default: today)")
        parser.add_argument("--source", default="", help="where the file was downloaded from (default: its path)")
        parser.add_argument("--show", action="store_true", help="print the trust lists in force and stop")

    def handle(self, *args, file=None, key="c2pa", date=None, source="", show=False, **options):
        if show:
            for info, _pem in trust_lists_in_force():
                origin = "installed" if info.installed else "shipped"
                self.stdout.write(
                    f"{info.key}: {info.name}, {info.date or 'undated'}, {info.certificates} certificates "
                    f"({origin}, {info.path}; source {info.source or 'unknown'})"
                )
            return
        if not file:
            raise CommandError("Give the downloaded trust list file (or --show).")
        try:
            info = trust_list_install(key=key, path=Path(file), date=date, source=source)
        except TrustListRejected as exc:
            raise CommandError(f"{file} was refused: {exc}. The trust list in force was not changed.") from exc
        self.stdout.write(self.style.SUCCESS(
            f"Installed {info.name} of {info.date}: {info.certificates} certificates, now in force "
            f"({info.path}). Images scored from now on are validated against it."
        ))
