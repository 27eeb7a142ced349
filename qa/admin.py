from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect

from qa.document_limits import document_content_validate
from qa.models import Chunk, Document, PromptTemplate
from qa.selectors import document_list
from qa.services import document_delete, document_ingest, document_reembed, prompt_template_save
from ragsite.errors import ProviderError


class DocumentForm(forms.ModelForm):
    def clean_content(self) -> str:
        content = self.cleaned_data["content"]
        document_content_validate(content)
        return content


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    form = DocumentForm
    list_display = ("title", "slug", "version", "chunk_count", "updated_at")
    search_fields = ("title", "slug", "source")
    readonly_fields = ("version", "content_hash", "updated_at")
    actions = ["reembed"]

    def get_queryset(self, request):
        return document_list()

    def get_readonly_fields(self, request, obj=None):
        # document_ingest finds a document by its slug, so an existing one keeps it.
        return self.readonly_fields + (("slug",) if obj else ())

    @admin.display(description="chunks", ordering="chunk_count")
    def chunk_count(self, obj: Document) -> int:
        return obj.chunk_count

    def changeform_view(self, request, *args, **kwargs):
        try:
            return super().changeform_view(request, *args, **kwargs)
        except ProviderError as exc:
            # Embedding happens before anything is written, so nothing was saved.
            self.message_user(request, f"Not saved: the {exc.provider} provider failed ({exc}).", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        document, _ = document_ingest(slug=obj.slug, title=obj.title, content=obj.content, source=obj.source)
        obj.pk = document.pk
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        document_delete(document=obj)

    def delete_queryset(self, request, queryset):
        for document in queryset:
            document_delete(document=document)

    @admin.action(description="Re-embed selected documents")
    def reembed(self, request, queryset):
        documents = list(queryset)
        for document in documents:
            document_reembed(document=document)
        self.message_user(request, f"Re-embedded {len(documents)} document(s).", messages.SUCCESS)


@admin.register(Chunk)
class ChunkAdmin(admin.ModelAdmin):
    list_display = ("document", "ordinal", "short_text")
    list_select_related = ("document",)
    search_fields = ("document__slug", "text")
    fields = ("document", "ordinal", "text")
    readonly_fields = fields

    @admin.display(description="text")
    def short_text(self, obj: Chunk) -> str:
        return obj.text if len(obj.text) <= 80 else obj.text[:79] + "…"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # Chunks are rebuilt from their document; editing one by hand would desynchronise its embedding.
        return False


@admin.register(PromptTemplate)
class PromptTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "is_active", "updated_at")
    readonly_fields = ("version", "updated_at")

    def save_model(self, request, obj, form, change):
        prompt_template_save(template=obj)
