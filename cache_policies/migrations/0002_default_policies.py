from django.db import migrations

POLICIES = [
    # layer, ttl_seconds, scope
    ("embedding", 7 * 86400, "shared"),
    ("retrieval", 86400, "shared"),
    ("response", 86400, "shared"),
    ("semantic", 86400, "shared"),
]

RULES = [
    # event, layer, action
    ("document_changed", "retrieval", "dependents"),
    ("document_changed", "response", "dependents"),
    ("document_changed", "semantic", "dependents"),
    ("document_deleted", "retrieval", "dependents"),
    ("document_deleted", "response", "dependents"),
    ("document_deleted", "semantic", "dependents"),
    ("prompt_template_changed", "response", "dependents"),
    ("prompt_template_changed", "semantic", "dependents"),
    ("model_changed", "embedding", "whole_layer"),
    ("model_changed", "retrieval", "whole_layer"),
    ("model_changed", "response", "whole_layer"),
    ("model_changed", "semantic", "whole_layer"),
    ("manual", "embedding", "whole_layer"),
    ("manual", "retrieval", "whole_layer"),
    ("manual", "response", "whole_layer"),
    ("manual", "semantic", "whole_layer"),
]

# Published list prices (USD per 1k tokens), editable in the admin.
PRICES = [
    ("gpt-4o-mini", "0.000150", "0.000600"),
    ("gpt-4o", "0.002500", "0.010000"),
    ("text-embedding-3-small", "0.000020", "0"),
    ("extractive-v1", "0", "0"),
    ("all-MiniLM-L6-v2", "0", "0"),
]


def create_defaults(apps, schema_editor):
    CachePolicy = apps.get_model("cache_policies", "CachePolicy")
    InvalidationRule = apps.get_model("cache_policies", "InvalidationRule")
    ModelPrice = apps.get_model("cache_policies", "ModelPrice")
    for layer, ttl, scope in POLICIES:
        CachePolicy.objects.get_or_create(layer=layer, defaults={"ttl_seconds": ttl, "scope": scope})
    for event, layer, action in RULES:
        InvalidationRule.objects.get_or_create(event=event, layer=layer, defaults={"action": action})
    for model, prompt, completion in PRICES:
        ModelPrice.objects.get_or_create(
            model=model,
            defaults={"usd_per_1k_prompt_tokens": prompt, "usd_per_1k_completion_tokens": completion},
        )


class Migration(migrations.Migration):
    dependencies = [("cache_policies", "0001_initial")]
    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
