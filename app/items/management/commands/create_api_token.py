"""`manage.py create_api_token <username>`: a user of the API and its token, for scripts.

Creates the user (without a usable password: it signs in with the token only) unless it
exists, and prints the user's token, creating it if needed. Idempotent, so a one-off Job or
`kubectl exec` can run it again and get the same token back.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Create an API user (if missing) and print its token."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, **options: Any) -> None:
        user, created = get_user_model().objects.get_or_create(username=options["username"])
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(token.key)
