from django.contrib import admin, messages

from cache_policies.models import CachedQuestion, CachePolicy, InvalidationRule, ModelPrice
from cache_policies.services import layer_purge, question_purge
from cache_policies.stats_selectors import stats_window

LIST_COLUMNS = ("layer", "enabled", "ttl_seconds", "scope", "namespace_version", "similarity_threshold")


@admin.register(CachePolicy)
class CachePolicyAdmin(admin.ModelAdmin):
    # Saving needs no service: the post_save signal tells every worker to re-read the policies.
    list_display_links = ("layer",)
    readonly_fields = ("updated_at",)
    actions = ["purge_layers"]

    def get_list_display(self, request):
        # One Redis read per page rather than one per row.
        window = stats_window(unit="minute", count=60)

        @admin.display(description="hit ratio, last hour")
        def hit_ratio(policy: CachePolicy) -> str:
            if window is None:
                return "Redis down"
            layer = window.layer(policy.layer)
            return f"{layer.hit_ratio:.0%} of {layer.lookups}" if layer.lookups else "–"

        return (*LIST_COLUMNS, hit_ratio)

    @admin.action(description="Purge selected layers")
    def purge_layers(self, request, queryset):
        versions = {policy.layer: layer_purge(layer=policy.layer) for policy in queryset}
        summary = ", ".join(f"{layer} → v{version}" for layer, version in versions.items())
        self.message_user(request, f"Purged {len(versions)} layer(s): {summary}.", messages.SUCCESS)


@admin.register(InvalidationRule)
class InvalidationRuleAdmin(admin.ModelAdmin):
    list_display = ("event", "layer", "action", "enabled")
    list_editable = ("action", "enabled")
    list_filter = ("event", "layer", "action", "enabled")


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = ("model", "usd_per_1k_prompt_tokens", "usd_per_1k_completion_tokens")
    search_fields = ("model",)


@admin.register(CachedQuestion)
class CachedQuestionAdmin(admin.ModelAdmin):
    """What the semantic index holds: written only by the pipeline, so read-only here."""

    list_display = ("question", "scope", "kth_score", "created_at", "expires_at")
    list_filter = ("scope",)
    search_fields = ("question",)
    date_hierarchy = "created_at"
    exclude = ("embedding",)
    actions = ["purge_questions"]

    @admin.action(description="Purge the cached answers of the selected questions")
    def purge_questions(self, request, queryset):
        removed = sum(question_purge(question=entry.question) for entry in queryset)
        self.message_user(request, f"Purged {removed} cached entries.", messages.SUCCESS)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
