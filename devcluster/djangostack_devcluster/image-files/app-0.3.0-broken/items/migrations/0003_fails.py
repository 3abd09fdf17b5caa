# A release whose migration fails (image example-app:0.3.0-broken, built only here): what a
# failed release must look like to the operator, while the previous one keeps serving.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("items", "0002_release_notes")]

    operations = [migrations.RunSQL("SELECT 1 / 0", migrations.RunSQL.noop)]
