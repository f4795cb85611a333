"""The command line: serve, init, add-organizer, export, import, vapid-public-key."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import sys
from pathlib import Path

from server import content
from server.accounts import AccountError, add_organizer
from server.config import ConfigError, Settings, from_env
from server.dataset import (
    DataError,
    export_data,
    import_data,
    load_dataset,
    load_new_languages,
)
from server.storage import open_database
from server.vapid import application_server_key, load_private_key

# More processes than this would only contend for the one SQLite writer.
MAX_WORKERS = 64


class CommandError(Exception):
    """A problem the person running the command can fix; printed as one line."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage + message; keep it one line
        raise CommandError(message)


def build_parser() -> Parser:
    parser = Parser(prog="python -m server", description="Vigil server and tools")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    serve = sub.add_parser("serve", help="serve the app")
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000") or 8000))
    serve.add_argument("--workers", type=int, default=1,
                       help="serve from this many processes on one port (default 1)")
    sub.add_parser("init", help="create or migrate the database; load data/ if it has no listings")
    org = sub.add_parser("add-organizer", help="create an organizer account")
    org.add_argument("name")
    org.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    sub.add_parser("export", help="print the dataset as JSON")
    imp = sub.add_parser("import", help="load an export")
    imp.add_argument("file")
    sub.add_parser("vapid-public-key", help="print the applicationServerKey")
    return parser


async def _init(settings: Settings) -> str:
    async with open_database(settings.database) as db:
        if await db.scalar("SELECT COUNT(*) FROM listings"):
            added = await load_new_languages(db, settings.data_dir)
            if added:
                return (f"database {db.name} is up to date; loaded {added} rights "
                        f"articles in new languages from {settings.data_dir}")
            return f"database {db.name} is up to date"
        counts = await load_dataset(db, settings.data_dir, content.iso_now())
    total = sum(counts.values())
    return f"database {db.name} ready; loaded {total} records from {settings.data_dir}"


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CommandError("no password on stdin")
        return password
    if not sys.stdin.isatty():
        raise CommandError("no terminal to ask for a password; use --password-stdin")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Password again: "):
        raise CommandError("the passwords do not match")
    return first


async def _add_organizer(settings: Settings, name: str, password: str) -> str:
    async with open_database(settings.database) as db:
        await add_organizer(db, name, password)
    return f"organizer {name!r} created"


async def _export(settings: Settings) -> dict:
    if not settings.db_url and not settings.db_path.exists():
        raise CommandError(f"no database at {settings.db_path}; run 'python -m server init'")
    async with open_database(settings.database) as db:
        return await export_data(db, content.iso_now())


def _read_export(file: str) -> object:
    try:
        return json.loads(Path(file).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CommandError(f"{file}: no such file") from None
    except IsADirectoryError:
        raise CommandError(f"{file}: is a directory, not an export file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CommandError(f"{file}: not valid JSON ({exc})") from None


async def _import(settings: Settings, file: str, doc: object) -> str:
    async with open_database(settings.database) as db:
        counts = await import_data(db, doc)
    return f"imported {file}: {sum(counts.values())} records changed"


def run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        from server.serve import serve

        if not 1 <= args.workers <= MAX_WORKERS:
            raise CommandError(f"--workers must be between 1 and {MAX_WORKERS}, "
                               f"got {args.workers}")
        settings = from_env()
        if args.workers > 1:
            # Once, before the workers start: each would otherwise migrate the database and
            # load data/ into it at the same moment.
            logging.getLogger("vigil").info("%s", asyncio.run(_init(settings)))
        serve(settings, args.host, args.port, args.workers)
        return 0
    settings = from_env(create_files=args.command != "export")
    if args.command == "init":
        print(asyncio.run(_init(settings)))
        load_private_key(settings)
    elif args.command == "add-organizer":
        password = _read_password(args.password_stdin)
        print(asyncio.run(_add_organizer(settings, args.name, password)))
    elif args.command == "export":
        doc = asyncio.run(_export(settings))
        json.dump(doc, sys.stdout, ensure_ascii=False, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    elif args.command == "import":
        print(asyncio.run(_import(settings, args.file, _read_export(args.file))))
    elif args.command == "vapid-public-key":
        print(application_server_key(load_private_key(settings)))
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except (CommandError, ConfigError, DataError, AccountError, ConnectionError) as exc:
        print(f"vigil: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # anything else still gets one line, not a traceback
        print(f"vigil: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
