"""``nigh``: the command line, a thin shell over the library (extra ``nighdb[cli]``).

The group is defined here; each command lives in its own module and is registered below.
``--store`` is global (``nigh --store URL CMD``) and accepted after each command too.
"""

from __future__ import annotations

try:
    import click
except ImportError as exc:  # the console script is installed even without the extra
    raise SystemExit("the nigh command needs the cli extra: pip install 'nighdb[cli]'") from exc

from .. import __version__
from .common import STORE_HELP, CliState, NighGroup

__all__ = ["main"]


@click.group(cls=NighGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--store", "store_url", metavar="URL", envvar="NIGH_STORE", help=STORE_HELP)
@click.version_option(__version__, prog_name="nigh")
@click.pass_context
def main(ctx: click.Context, store_url: str | None) -> None:
    """nighdb: a durable, multi-tenant vector store.

    Exit codes: 0 ok, 1 refused or usage error, 2 any other error.
    """
    # A command's own --store (parsed after this) overrides this one.
    ctx.ensure_object(CliState).store_url = store_url


def _register() -> None:
    # One module per command (or command group); add new ones here.
    from .import_from_cmd import import_from
    from .index_cmd import index
    from .inspect_cmd import list_collections, remove, search, show
    from .items_cmd import count_items, delete_items, get_items, tenants
    from .keys import keys
    from .migrate_cmd import migrate
    from .packs_cmd import apply, diff
    from .serve import serve
    from .transfer_cmd import export, import_

    main.add_command(serve)
    main.add_command(keys)
    main.add_command(import_from)
    for command in (list_collections, show, remove, search, import_, export, diff, apply, migrate):
        main.add_command(command)
    for command in (tenants, count_items, get_items, delete_items, index):
        main.add_command(command)


_register()
