# A commitment's reference is translated (aitracker/translation.py): its existing (English) text moves into
# `reference_en`; the original column and its unique constraint (instrument, reference) stay, the English identity.

from django.db import migrations, models
from django.db.models.functions import Coalesce


def copy_into_english(apps, schema_editor):
    apps.get_model("aitracker", "Commitment").objects.update(reference_en=models.F("reference"))


def copy_back(apps, schema_editor):
    Commitment = apps.get_model("aitracker", "Commitment")
    Commitment.objects.update(reference=Coalesce("reference_en", models.F("reference")))


class Migration(migrations.Migration):
    dependencies = [
        ("aitracker", "0015_update_has_english_summary"),
    ]

    operations = [
        # Room for a translated reference ("Dialogue mondial, renforcement des capacités").
        migrations.AlterField(
            model_name="commitment",
            name="reference",
            field=models.CharField(
                help_text='The point or paragraph, e.g. "§4".', max_length=60, verbose_name="reference"
            ),
        ),
        migrations.AlterField(
            model_name="historicalcommitment",
            name="reference",
            field=models.CharField(
                help_text='The point or paragraph, e.g. "§4".', max_length=60, verbose_name="reference"
            ),
        ),
        migrations.AddField(
            model_name="commitment",
            name="reference_en",
            field=models.CharField(
                help_text='The point or paragraph, e.g. "§4".', max_length=60, null=True, verbose_name="reference"
            ),
        ),
        migrations.AddField(
            model_name="commitment",
            name="reference_fr",
            field=models.CharField(
                help_text='The point or paragraph, e.g. "§4".', max_length=60, null=True, verbose_name="reference"
            ),
        ),
        migrations.AddField(
            model_name="commitment",
            name="reference_zh_hans",
            field=models.CharField(
                help_text='The point or paragraph, e.g. "§4".', max_length=60, null=True, verbose_name="reference"
            ),
        ),
        migrations.RunPython(copy_into_english, copy_back),
        migrations.AddIndex(
            model_name="commitment",
            index=models.Index(fields=["reference_en"], name="commitment_reference-en"),
        ),
        migrations.AddIndex(
            model_name="commitment",
            index=models.Index(fields=["reference_fr"], name="commitment_reference-fr"),
        ),
        migrations.AddIndex(
            model_name="commitment",
            index=models.Index(fields=["reference_zh_hans"], name="commitment_reference-zh-hans"),
        ),
        migrations.AddConstraint(
            model_name="commitment",
            constraint=models.UniqueConstraint(
                fields=("instrument", "reference_en"),
                name="commitment_unique_reference-en",
                violation_error_message="This instrument already has a commitment with this reference.",
            ),
        ),
        migrations.AddConstraint(
            model_name="commitment",
            constraint=models.UniqueConstraint(
                fields=("instrument", "reference_fr"),
                name="commitment_unique_reference-fr",
                violation_error_message="This instrument already has a commitment with this reference.",
            ),
        ),
        migrations.AddConstraint(
            model_name="commitment",
            constraint=models.UniqueConstraint(
                fields=("instrument", "reference_zh_hans"),
                name="commitment_unique_reference-zh-hans",
                violation_error_message="This instrument already has a commitment with this reference.",
            ),
        ),
    ]
