"""``dfstream models``: list, import, download and verify network weights."""

from __future__ import annotations

import sys

from dfstream.engines import store

from .errors import DfstreamError


def command(args) -> int:
    if args.action == "list":
        print(f"store: {store.root()}")
        for row in store.listing():
            state = ("ok" if row["problem"] is None else row["problem"]) if row["installed"] else "not installed"
            print(f"  {row['name']:<30} {state:<14} {row['about']}")
            print(f"  {'':<30} file {row['file']}; licence: {row['licence']}")
        return 0
    if args.action == "import":
        record = store.import_file(args.name, args.file)
        _report(record)
        return 0
    if args.action == "download":
        record = store.download(args.name, args.url)
        _report(record)
        return 0
    names = args.name or [r["name"] for r in store.listing() if r["installed"]]
    if not names:
        print("no models installed", file=sys.stderr)
        return 0
    failed = [(name, problem) for name in names if (problem := store.verify(store.card(name).name))]
    for name in names:
        print(f"{name}: {dict(failed).get(name, 'ok')}")
    if failed:
        name, problem = failed[0]
        raise DfstreamError(f"{len(failed)} model(s) failed verification ({name}: {problem})",
                            f"import them again ({store.get_command(name)})")
    return 0


def _report(record: dict) -> None:
    published = {True: "matches the published sha256", False: "differs from the published file",
                 None: "no published checksum to compare"}[record["published"]]
    print(f"{record['name']}: {record['parameters']:,} parameters from {record['source_file']} "
          f"(sha256 {record['source_sha256'][:16]}..., {published}) -> {store.weights_path(record['name'])}")
