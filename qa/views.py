from django.shortcuts import get_object_or_404, render

from qa.ask_api import answer_headers
from qa.forms import AskForm
from qa.models import Document
from qa.pipeline import question_answer


def home(request):
    form = AskForm(request.POST or None)
    answer = None
    if request.method == "POST" and form.is_valid():
        answer = question_answer(
            question=form.cleaned_data["question"],
            user_id=request.user.id if request.user.is_authenticated else None,
        )
    response = render(request, "qa/home.html", {"form": form, "answer": answer}, status=400 if form.errors else 200)
    if answer is not None:
        for header, value in answer_headers(answer).items():
            response[header] = value
    return response


def document_detail(request, slug):
    document = get_object_or_404(Document, slug=slug)
    return render(request, "qa/document.html", {"document": document, "chunks": document.chunks.all()})
