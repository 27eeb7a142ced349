from django.shortcuts import get_object_or_404, render

from ragsite.errors import ProviderError

from qa.ask_api import answer_headers
from qa.forms import AskForm
from qa.models import Document
from qa.pipeline import question_answer


def home(request):
    form = AskForm(request.POST or None)
    answer, status = None, 400 if form.errors else 200
    if request.method == "POST" and form.is_valid():
        try:
            answer = question_answer(
                question=form.cleaned_data["question"],
                user_id=request.user.id if request.user.is_authenticated else None,
            )
        except ProviderError as exc:
            form.add_error(None, f"The {exc.provider} provider failed: {exc}. Nothing was cached; please try again.")
            status = exc.status_code
    response = render(request, "qa/home.html", {"form": form, "answer": answer}, status=status)
    if answer is not None:
        for header, value in answer_headers(answer).items():
            response[header] = value
    return response


def document_detail(request, slug):
    document = get_object_or_404(Document, slug=slug)
    return render(request, "qa/document.html", {"document": document, "chunks": document.chunks.all()})
