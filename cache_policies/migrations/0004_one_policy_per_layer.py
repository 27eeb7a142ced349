from django.db import migrations

LAYERS = ("embedding", "retrieval", "response", "semantic")


def one_per_layer(apps, schema_editor):
    # The admin can no longer add or delete policies, so a layer whose row went missing gets its default back;
    # a row for a layer that no longer exists would only confuse the admin.
    CachePolicy = apps.get_model("cache_policies", "CachePolicy")
    for layer in LAYERS:
        CachePolicy.objects.get_or_create(layer=layer, defaults={"ttl_seconds": 7 * 86400 if layer == "embedding" else 86400})
    CachePolicy.objects.exclude(layer__in=LAYERS).delete()


class Migration(migrations.Migration):
    dependencies = [("cache_policies", "0003_semantic_guard_defaults")]
    operations = [migrations.RunPython(one_per_layer, migrations.RunPython.noop)]
