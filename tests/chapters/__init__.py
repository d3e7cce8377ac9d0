"""The paper's claims, checked on the numbers each chapter records under the CI profile
(``test_claims_<chapter>.py``; the ``ci_chapter`` fixture of ``tests/conftest.py`` runs them)."""
