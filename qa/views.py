from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render

from cache_policies.ratelimit import retry_after
from cache_policies.singleflight import AnswerPending
from ragsite.errors import ProviderError

from qa.apis import answer_headers
from qa.explain import question_explain
from qa.exposure import cache_status_visible
from qa.forms import AskForm, ExplainForm, WarmForm
from qa.models import Document
from qa.pipeline import question_answer
from qa.throttles import ask_wait
from qa.warming import questions_most_asked, questions_warm, warm_refusal


def home(request):
    if request.method == "POST" and (wait := ask_wait(request)):
        return _throttled(request, wait)
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
        except AnswerPending as exc:
            form.add_error(None, str(exc))
            status = 503
    visible = cache_status_visible(user=request.user)
    context = {"form": form, "answer": answer, "show_cache_status": visible}
    response = render(request, "qa/home.html", context, status=status)
    if answer is not None and visible:
        for header, value in answer_headers(answer).items():
            response[header] = value
    return response


def _throttled(request, wait: float):
    """The form's 429: the question stays in the box, with when to ask again."""
    seconds = retry_after(wait)
    form = AskForm(request.POST)
    form.errors.clear()  # not validated: only the rate is wrong
    form.add_error(None, f"You are asking faster than this site answers. Please try again in {seconds} s.")
    response = render(request, "qa/home.html", {"form": form}, status=429)
    response["Retry-After"] = str(seconds)
    return response


def document_detail(request, slug):
    document = get_object_or_404(Document, slug=slug)
    return render(request, "qa/document.html", {"document": document, "chunks": document.chunks.all()})


def explain_page(request):
    """Staff only (wrapped by the admin site): how a question would be answered now, changing nothing."""
    form = ExplainForm(request.GET or None)
    explanation = question_explain(question=form.cleaned_data["question"], user_id=request.user.id) if form.is_valid() else None
    context = {**admin.site.each_context(request), "title": "Explain a question", "form": form, "explanation": explanation}
    return render(request, "qa/explain.html", context, status=400 if form.errors else 200)


WARM_PAGE_LISTED = 20


def warm_page(request):
    """Staff who may edit the cache policies (wrapped by the admin site): warm a few of the most asked
    questions now, and see why nothing can be warmed when answers are cached per user."""
    if not request.user.has_perm("cache_policies.change_cachepolicy"):
        raise PermissionDenied
    form = WarmForm(request.POST or None, choices=questions_most_asked(limit=WARM_PAGE_LISTED))
    if request.method == "POST" and form.is_valid():
        report = questions_warm(questions=form.cleaned_data["question"])
        messages.add_message(request, messages.WARNING if report.refused else messages.SUCCESS, report.summary())
        return redirect("warm")
    context = {**admin.site.each_context(request), "title": "Warm the cache", "form": form, "refusal": warm_refusal()}
    return render(request, "qa/warm.html", context, status=400 if form.errors else 200)
