from django import forms

QUESTION_MAX_CHARS = 2000


class AskForm(forms.Form):
    question = forms.CharField(
        max_length=QUESTION_MAX_CHARS, strip=True,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "How does the with statement work?", "autofocus": True}),
    )


class ExplainForm(forms.Form):
    question = forms.CharField(max_length=QUESTION_MAX_CHARS, strip=True, widget=forms.TextInput(attrs={"size": 80}))
