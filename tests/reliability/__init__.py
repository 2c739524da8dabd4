"""Reliability and security tests (issue 7): crashes, load, outages, hostile input, tenants.

Short versions run in ``make test``; ``make soak`` (``NIGH_SOAK=1`` or ``--soak``) runs the
long ones. Every test records its figures (kills survived, operations, fuzz cases) with the
``figures`` fixture; they are printed in the terminal summary and written to a JSON file
(``$NIGH_RELIABILITY_FIGURES``, else ``<pytest basetemp>/reliability-figures.json``) that
``docs/reliability.md`` quotes.
"""
