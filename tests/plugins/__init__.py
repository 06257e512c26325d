"""pytest plugins of the suite, registered once in tests/conftest.py (``pytest_plugins``) or,
for what must run before Django is set up, in pyproject's ``addopts`` (``-p``)."""
