from django import forms

QUESTION_MAX_CHARS = 2000


class AskForm(forms.Form):
    question = forms.CharField(
        max_length=QUESTION_MAX_CHARS, strip=True,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "How does the with statement work?", "autofocus": True}),
    )


class ExplainForm(forms.Form):
    question = forms.CharField(max_length=QUESTION_MAX_CHARS, strip=True, widget=forms.TextInput(attrs={"size": 80}))


class _QuestionChoices(forms.MultipleChoiceField):
    """Any question text may be posted: the most asked list may have changed since the page was shown."""

    def valid_value(self, value: str) -> bool:
        return bool(value.strip()) and len(value) <= QUESTION_MAX_CHARS


class WarmForm(forms.Form):
    # The page warms while the staff member waits (a cold answer from an LLM takes 1-3 s): a few at a time,
    # within the server's request timeout. The cache_warm command takes any number.
    MAX_QUESTIONS = 5

    question = _QuestionChoices(widget=forms.CheckboxSelectMultiple, label="Questions")

    def __init__(self, *args, choices: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["question"].choices = [(text, text) for text in choices]

    def clean_question(self) -> list[str]:
        questions = self.cleaned_data["question"]
        if len(questions) > self.MAX_QUESTIONS:
            raise forms.ValidationError(
                f"Select at most {self.MAX_QUESTIONS} questions: this page warms them while you wait "
                "(the cache_warm command takes any number)."
            )
        return questions
