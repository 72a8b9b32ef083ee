from __future__ import annotations

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations


class Migration(migrations.Migration):
    """pg_trgm backs the ILIKE searches of inventory and customers (a trusted extension)."""

    dependencies: list = []
    operations = [TrigramExtension()]
