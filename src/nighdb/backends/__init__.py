"""Backends: each subpackage implements the ``Store`` Protocol over one kind of storage.

``sqlite`` (core install), ``postgres`` (extra ``postgres``) and ``remote`` (extra
``remote``). ``open_store`` imports a backend only when its URL scheme is used, so drivers
stay optional extras. Backends import the core and never the service or the CLI.
"""
