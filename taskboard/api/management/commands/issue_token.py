from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from taskboard.api.auth import token_issue


class Command(BaseCommand):
    help = (
        "Print a signed API token (a JWT with email, exp and jti) for a user; revoke it in the admin. "
        "On a development checkout `make token EMAIL=...` runs it with the settings `make run` serves with."
    )

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--days", type=float, default=None, help="Lifetime in days (default API_TOKEN_DAYS).")
        parser.add_argument("--note", default="issue_token", help="A note shown in the admin.")

    def handle(self, *args, email, days, note, **options):
        try:
            user = get_user_model().objects.filter(email__iexact=email.strip()).first()
        except DatabaseError as error:
            # A new checkout: the database is not made yet (make run migrates it and loads the demo).
            raise CommandError(f"The database is not ready ({error}): run `make run` (or migrate) first.") from error
        if user is None:
            raise CommandError(f"No user with email {email!r}.")
        if not user.is_active:
            raise CommandError(f"{user.email} is not active.")
        if days is not None and not 0 < days <= 3650:
            raise CommandError("--days must be more than 0 and at most 3650.")
        self.stdout.write(token_issue(user=user, days=days, note=note))
