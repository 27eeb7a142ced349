"""The fixed question set: twenty questions about the sample knowledge base, each with a paraphrase.

The paraphrase is what a second user would type: it should reach the cached answer through the
semantic layer. Those the guard turns away are reported as such, not dropped from the set.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class BenchQuestion:
    topic: str  # the sample document the question is about
    question: str
    paraphrase: str


QUESTIONS = (
    BenchQuestion("with", "What does the with statement do?", "Explain what a with statement is for."),
    BenchQuestion("assert", "What does the assert statement do?", "How does an assert statement work?"),
    BenchQuestion("break", "What does the break statement do in a loop?", "How does break end a loop?"),
    BenchQuestion("continue", "What does the continue statement do?", "Explain the continue statement in loops."),
    BenchQuestion("lambda", "How do lambda expressions work?", "What is a lambda expression?"),
    BenchQuestion("yield", "What does the yield expression do in a function?", "How does yield work inside a function?"),
    BenchQuestion("try", "How does the try statement handle exceptions?", "How are exceptions handled by a try statement?"),
    BenchQuestion("raise", "What does the raise statement do?", "How do I raise an exception with the raise statement?"),
    BenchQuestion("global", "What does the global statement declare?", "What is the global statement used for?"),
    BenchQuestion("nonlocal", "What does the nonlocal statement do?", "How does the nonlocal statement work?"),
    BenchQuestion("import", "How does the import statement find and load a module?", "How does import locate and load modules?"),
    BenchQuestion("del", "What does the del statement do?", "How does deletion with the del statement work?"),
    BenchQuestion("pass", "What is the pass statement for?", "When would I use the pass statement?"),
    BenchQuestion("while", "How does a while loop work?", "Explain how the while loop repeats a block."),
    BenchQuestion("for", "How does the for statement iterate over a sequence?", "How does a for loop iterate over items?"),
    BenchQuestion("async", "What is a coroutine defined with async def?", "What are coroutines declared with async def?"),
    BenchQuestion("await", "What does the await expression do?", "How does await suspend a coroutine?"),
    BenchQuestion("formatstrings", "What is the format string syntax?", "How does the format string syntax work?"),
    BenchQuestion("truth", "Which values are considered false in truth value testing?", "What values count as false when testing truth?"),
    BenchQuestion("context-managers", "What are the __enter__ and __exit__ methods of a context manager?",
                  "What do __enter__ and __exit__ do in a context manager?"),
)

WARM_UP = "What does the if statement do?"
STAMPEDE = "What is the difference between a list and a tuple?"
