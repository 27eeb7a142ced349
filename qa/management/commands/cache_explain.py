import json

from django.core.management.base import BaseCommand, CommandError

from qa.explain import Explanation, LayerEntry, SemanticCandidate, question_explain

_PRESENCE = {True: "present", False: "absent", None: "Redis down"}


def _layer_line(entry: LayerEntry) -> str:
    state = _PRESENCE[entry.present] if entry.enabled else f"off, {_PRESENCE[entry.present]}"
    docs = ", ".join(d["slug"] + ("" if d["tagged"] else " (untagged!)") for d in entry.documents)
    return f"  {entry.layer:<10} {entry.key}  {state:<10} TTL left {entry.ttl_left}" + (f"  documents: {docs}" if docs else "")


def _candidate_line(candidate: SemanticCandidate) -> str:
    checks = "; ".join(f"{c['name']} {'ok' if c['passed'] else 'FAILS'} ({c['detail']})" for c in candidate.checks)
    verdict = "would serve" if candidate.would_serve else ("refused" if candidate.answer_present else "its answer is gone")
    return f'  semantic   {candidate.similarity:.3f} "{candidate.question}": {checks} -> {verdict}'


def explanation_text(explanation: Explanation) -> str:
    lines = [f"Question: {explanation.question}", *map(_layer_line, explanation.layers)]
    lines += [*map(_candidate_line, explanation.candidates)] or ["  semantic   no cached question above the threshold"]
    lines += [f"Decision: {explanation.decision}. {explanation.policy}",
              f"Answer, from {explanation.answer_source}:", f"  {explanation.answer or '–'}"]
    return "\n".join(lines)


class Command(BaseCommand):
    help = "How a question would be answered now: each layer's entry, the semantic candidates and their guard checks, the deciding policy. Changes nothing."

    def add_arguments(self, parser):
        parser.add_argument("question")
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print the explanation as JSON.")

    def handle(self, *args, question, as_json, **options):
        if not question.strip():
            raise CommandError("The question is empty.")
        explanation = question_explain(question=question)
        self.stdout.write(json.dumps(explanation.as_dict(), indent=2) if as_json else explanation_text(explanation))
