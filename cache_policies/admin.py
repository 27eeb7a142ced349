from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse

from cache_policies.durations import OFF, DurationField, duration_format
from cache_policies.layer_forms import layer_fieldsets, layer_help
from cache_policies.models import (
    Action, CachedQuestion, CachePolicy, Event, InvalidationRule, Layer, ModelPrice, SemanticVerdict,
)
from cache_policies.policy_changes import budget_floor_summary, policy_change_summary
from cache_policies.selectors import RULE_OFF, WARMABLE_EVENTS, rule_grid
from cache_policies.services import (
    layer_purge, question_purge, rule_set, rule_warm_set, semantic_budget_floor, semantic_budget_floor_update,
)
from cache_policies.stats_selectors import stats_window

RULE_CHOICES = {RULE_OFF, *Action.values}
LIST_COLUMNS = ("layer", "enabled", "ttl", "scope", "namespace_version", "similarity_threshold")


@admin.register(CachePolicy)
class CachePolicyAdmin(admin.ModelAdmin):
    """One row per layer (a migration keeps them): edited, never added, deleted or moved to another layer."""

    list_display_links = ("layer",)
    readonly_fields = ("layer", "updated_at", "budget_floor", "threshold_derivation")
    actions = ["purge_layers"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_fieldsets(self, request, obj=None):
        return layer_fieldsets(layer=obj.layer) if obj else super().get_fieldsets(request, obj)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "ttl_seconds":
            return DurationField(label="TTL", required=True, help_text=db_field.help_text)
        if db_field.name == "stale_seconds":
            return DurationField(label="Serve stale for", zero=OFF, required=False, help_text=db_field.help_text)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        for field, text in (layer_help(layer=obj.layer) if obj else {}).items():
            if field in form.base_fields:
                form.base_fields[field].help_text = text
        return form

    def save_model(self, request, obj, form, change):
        # Saving needs no service: the post_save signal tells every worker to re-read the policies.
        before = {field: form.initial.get(field) for field in form.changed_data}
        if "similarity_threshold" in form.changed_data:
            obj.threshold_derivation = ""  # set by hand now, not derived from the budget
        floor_before = obj.budget_floor
        if "max_wrong_rate" in form.changed_data:
            obj.budget_floor = semantic_budget_floor(max_wrong_rate=obj.max_wrong_rate)
        super().save_model(request, obj, form, change)
        for sentence in policy_change_summary(layer=obj.layer, before=before, after=obj):
            self.message_user(request, sentence, messages.SUCCESS)
        if obj.budget_floor != floor_before:
            self.message_user(request, budget_floor_summary(floor=obj.budget_floor), messages.SUCCESS)

    @admin.display(description="TTL", ordering="ttl_seconds")
    def ttl(self, policy: CachePolicy) -> str:
        return "–" if policy.layer == Layer.SEMANTIC else duration_format(policy.ttl_seconds)

    def get_list_display(self, request):
        # One read of the roll-up per page rather than one per row.
        window = stats_window(unit="minute", count=60)

        @admin.display(description="hit ratio, last hour")
        def hit_ratio(policy: CachePolicy) -> str:
            if window is None:
                return "counts unavailable"
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
    """Shown as one grid, events × layers → action: the whole behaviour on one screen."""

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_change_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            changes = [
                sentence for event in Event.values for layer in Layer.values
                if (action := request.POST.get(f"{event}:{layer}")) in RULE_CHOICES
                and (sentence := rule_set(event=event, layer=layer, action=action))
            ]
            # After the actions: only a rule that removes dependents can warm (an unticked box is not posted).
            changes += [
                sentence for event in WARMABLE_EVENTS
                if (sentence := rule_warm_set(event=event, warm=f"{event}:{Layer.RESPONSE}:warm" in request.POST))
            ]
            for sentence in changes or ["No rule changed."]:
                self.message_user(request, sentence, messages.SUCCESS if changes else messages.INFO)
            return HttpResponseRedirect(request.path)
        context = {
            **self.admin_site.each_context(request), "opts": self.model._meta, "title": "Invalidation rules",
            "grid": rule_grid(), "layers": Layer.choices, "choices": [(RULE_OFF, "off"), *Action.choices],
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/cache_policies/invalidationrule/grid.html", context)


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


@admin.register(SemanticVerdict)
class SemanticVerdictAdmin(admin.ModelAdmin):
    """Verified semantic hits, written only by the verification job. Deleting a wrong verdict the operator
    disagrees with serves its entry to that neighbourhood again."""

    list_display = ("question", "cached_question", "similarity", "answer_similarity", "sources_agree", "verdict",
                    "created_at")
    list_filter = ("verdict",)
    search_fields = ("question", "cached_question")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        semantic_budget_floor_update()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        semantic_budget_floor_update()
