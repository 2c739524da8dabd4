"""The conformance suite: every rule of contract §1-§7 and §12 against every backend.

Tests use only the parametrized ``store`` / ``store_factory`` fixtures (``tests/conftest.py``),
so a backend added to ``BACKENDS`` runs the whole suite.
"""
