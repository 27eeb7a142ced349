from django import forms
from django.contrib import admin, messages

from qa.document_limits import document_content_validate
from qa.models import Chunk, Document, DocumentStatus, PromptTemplate
from qa.selectors import document_list
from qa.services import document_delete, document_reembed_submit, document_submit, prompt_template_save


def _queued_message(document: Document) -> str:
    if document.status == DocumentStatus.PENDING:
        return (f"“{document.slug}” is queued: its chunks are being embedded in the background, and its previous "
                "text answers questions until then. Its status turns ready (or failed, with the error) when done.")
    error = f" ({document.status_error})" if document.status_error else ""
    return f"“{document.slug}” was ingested: status {document.status}{error}."


class DocumentForm(forms.ModelForm):
    def clean_content(self) -> str:
        content = self.cleaned_data["content"]
        document_content_validate(content)
        return content


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    form = DocumentForm
    list_display = ("title", "slug", "version", "chunk_count", "status", "updated_at")
    list_filter = ("status",)
    search_fields = ("title", "slug", "source")
    readonly_fields = ("version", "content_hash", "updated_at", "status", "status_error", "queued_at", "ingested_at")
    actions = ["reembed"]

    def get_queryset(self, request):
        return document_list()

    def get_readonly_fields(self, request, obj=None):
        # document_submit finds a document by its slug, so an existing one keeps it.
        return self.readonly_fields + (("slug",) if obj else ())

    @admin.display(description="chunks", ordering="chunk_count")
    def chunk_count(self, obj: Document) -> int:
        return obj.chunk_count

    def save_model(self, request, obj, form, change):
        document, ingest = document_submit(slug=obj.slug, title=obj.title, content=obj.content, source=obj.source)
        obj.pk = document.pk
        obj.refresh_from_db()
        if ingest == "queued":
            self.message_user(request, _queued_message(document), messages.INFO)

    def delete_model(self, request, obj):
        document_delete(document=obj)

    def delete_queryset(self, request, queryset):
        for document in queryset:
            document_delete(document=document)

    @admin.action(description="Re-embed selected documents")
    def reembed(self, request, queryset):
        documents = list(queryset)
        for document in documents:
            document_reembed_submit(document=document)
        self.message_user(
            request, f"Queued {len(documents)} document(s) for re-embedding; their status turns ready when done.",
            messages.INFO,
        )


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
