"""`manage.py bench`: what the cache layers buy, measured on the sample knowledge base.

run.py orders the phases; each measurement has its own module; report.py writes bench-results/.
Everything the bench writes is kept apart from the developer's cache (sandbox.py).
"""
