"""Create the Analyst and Editor groups with their permissions, so a fresh install has them."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ANALYST = {
    "progressupdate": ["add", "change", "view"],
    "source": ["add", "change", "delete", "view"],
    "commitment": ["view"],
    "instrument": ["view"],
    "party": ["view"],
    "endorsement": ["view"],
    "theme": ["view"],
}
EDITOR_MODELS = ["instrument", "party", "endorsement", "theme", "commitment", "progressupdate", "source"]
EDITOR_EXTRA = [("aitracker", "publish_progressupdate"), ("axes", "view_accessattempt"), ("axes", "view_accesslog")]


def create_groups(apps, schema_editor):
    # Permissions are normally created after migrations; create them now so the groups can hold them.
    for app_config in apps.get_app_configs():
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = True  # create_permissions skips apps it thinks have no models
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = models_module

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    def perms(app_label, codenames):
        found = list(Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))
        missing = set(codenames) - {p.codename for p in found}
        if missing:
            raise RuntimeError(f"missing permissions: {sorted(missing)}")
        return found

    analyst, _ = Group.objects.get_or_create(name="Analyst")
    analyst.permissions.set(
        perms("aitracker", [f"{action}_{model}" for model, actions in ANALYST.items() for action in actions])
    )

    editor, _ = Group.objects.get_or_create(name="Editor")
    editor_perms = perms(
        "aitracker",
        [f"{action}_{model}" for model in EDITOR_MODELS for action in ("add", "change", "delete", "view")],
    )
    for app_label, codename in EDITOR_EXTRA:
        editor_perms += perms(app_label, [codename])
    editor.permissions.set(editor_perms)


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=["Analyst", "Editor"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("aitracker", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("axes", "__latest__"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
