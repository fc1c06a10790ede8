from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("detector", "0006_collection_review_every_entry"),
    ]

    operations = [
        migrations.AlterField(
            model_name="evidence",
            name="kind",
            field=models.CharField(
                choices=[
                    ("classifier", "Learned classifier"),
                    ("provenance", "Provenance metadata"),
                    ("watermark", "Invisible watermark"),
                    ("visible_mark", "Visible AI mark"),
                ],
                max_length=32,
            ),
        ),
    ]
