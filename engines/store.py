"""The model store: published weights imported once into safetensors with a JSON manifest.

``catalog`` holds a ``ModelCard`` per published file; each network family
registers the ``Architecture`` that reads its files when its module is imported.
The store lives in ``$DFSTREAM_HOME/models``, else
``$XDG_CACHE_HOME/dfstream/models`` (``~/.cache/dfstream/models``). Torch is
imported only to read or build networks: listing the models does not need it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from dfstream.errors import DfstreamError, UsageError

from .catalog import CARDS, ModelCard

if TYPE_CHECKING:
    from torch import nn

FORMAT = 1  # bump when the stored layout changes
UMASK = os.umask(0o022)  # read once (os.umask can only be read by setting it)
os.umask(UMASK)


@dataclass(frozen=True)
class Architecture:
    """How to build a network and turn a published state dict into its keys."""

    name: str
    build: Callable[[], nn.Module]
    convert: Callable[[dict], dict] = lambda state: state  # fold norms, drop unused buffers
    container: tuple[str, ...] = ()  # keys of a training checkpoint that may hold the state dict
    allow: tuple = ()  # globals the checkpoint's pickle may name (the smallest set)
    optional: tuple[str, ...] = ("num_batches_tracked",)  # keys older files lack


ARCHITECTURES: dict[str, Architecture] = {}


def add(architecture: Architecture) -> Architecture:
    ARCHITECTURES[architecture.name] = architecture
    return architecture


def architecture(info: ModelCard) -> Architecture:
    """The architecture that reads a card's files (its engine module imported on first use)."""
    from .registry import load_engines

    load_engines()
    return ARCHITECTURES[info.architecture]


def cards() -> dict[str, ModelCard]:
    return CARDS


def card(name: str) -> ModelCard:
    if name not in cards():
        raise UsageError(f"unknown model '{name}'", f"choose from {', '.join(CARDS)} ('dfstream models list')")
    return CARDS[name]


def root() -> Path:
    if os.environ.get("DFSTREAM_HOME"):
        return Path(os.environ["DFSTREAM_HOME"]) / "models"
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "dfstream" / "models"


def weights_path(name: str) -> Path:
    return root() / f"{name}.safetensors"


def manifest_path(name: str) -> Path:
    return root() / f"{name}.json"


def installed(name: str) -> bool:
    return weights_path(name).is_file() and manifest_path(name).is_file()


def manifest(name: str) -> dict:
    return json.loads(manifest_path(name).read_text())


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def get_command(name: str) -> str:
    return f"run 'dfstream models download {name}' or 'dfstream models import {name} FILE'"


def import_file(name: str, file: str | Path) -> dict:
    """Read a published checkpoint, check every key and shape, store it as safetensors."""
    import torch
    from safetensors.torch import save_file

    from . import checkpoint

    info, file = card(name), Path(file)
    arch = architecture(info)
    with torch.device("meta"):
        module = arch.build()
    state = checkpoint.match(arch.convert(checkpoint.read(file, arch.container, arch.allow)),
                             module, arch.optional)
    root().mkdir(parents=True, exist_ok=True)
    target = weights_path(name)
    temp = target.with_name(f".{target.name}.{os.getpid()}")
    try:
        save_file({k: v.contiguous() for k, v in state.items()}, str(temp), metadata={"name": name})
        os.chmod(temp, 0o666 & ~UMASK)  # like the manifest: the user's umask decides
        source_sha = sha256(file)
        record = {
            "name": name, "architecture": arch.name, "format": FORMAT,
            "source_file": file.name, "source_sha256": source_sha,
            "published": info.sha256 == source_sha if info.sha256 else None,
            "sha256": sha256(temp), "parameters": parameters(module),
            "imported": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    manifest_path(name).write_text(json.dumps(record, indent=2) + "\n")
    return record


def load(name: str) -> nn.Module:
    """The network with its stored weights, in eval mode, without gradients, on the CPU."""
    import torch
    from safetensors.torch import load_file

    from . import checkpoint

    info = card(name)
    if not installed(name):
        raise DfstreamError(f"the weights of {name} are not installed", get_command(name))
    with torch.device("meta"):  # no time spent initialising weights that are replaced
        module = architecture(info).build()
    try:
        state = load_file(str(weights_path(name)))
    except Exception as err:  # noqa: BLE001 - safetensors raises its own types
        raise DfstreamError(f"the stored weights of {name} are damaged ({err})",
                            f"import them again ({get_command(name)})") from None
    module.load_state_dict(checkpoint.match(state, module), assign=True)
    module.weights_sha256 = manifest(name)["sha256"]  # engine cache keys use it instead of hashing again
    return module.eval().requires_grad_(False)


def verify(name: str) -> str | None:
    """What is wrong with the stored weights of ``name``, or None when they check out."""
    if not installed(name):
        return "not installed"
    if sha256(weights_path(name)) != manifest(name).get("sha256"):
        return "checksum differs from the manifest (file changed or damaged)"
    try:
        load(name)
    except DfstreamError as err:
        return err.problem
    return None


def download(name: str, url: str | None = None, quiet: bool = False) -> dict:
    """Fetch the published file (resuming a partial one), check its sha256 and import it."""
    info = card(name)
    urls = (url,) if url else info.urls
    folder = root() / "downloads"
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / (info.file + ".part")
    reasons = []
    for candidate in urls:
        try:
            _fetch(candidate, part, quiet)
            break
        except (urllib.error.URLError, OSError, ValueError) as err:
            reasons.append(f"{candidate}: {getattr(err, 'reason', err)}")
    else:
        raise DfstreamError(f"could not download {name} ({'; '.join(reasons)})",
                            f"download {info.urls[0]} by hand and run "
                            f"'dfstream models import {name} {info.file}'")
    expected = info.sha256
    if expected and sha256(part) != expected:
        part.unlink()
        raise DfstreamError(f"the download of {name} does not match its published sha256",
                            "try again, or another mirror with --url")
    done = folder / info.file
    os.replace(part, done)
    record = import_file(name, done)
    done.unlink()
    return record


def _fetch(url: str, part: Path, quiet: bool) -> None:
    """Download to ``part``, resuming from its size with an HTTP Range request."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "dfstream",
                                                   **({"Range": f"bytes={have}-"} if have else {})})
    try:
        response = urllib.request.urlopen(request, timeout=30)
    except urllib.error.HTTPError as err:
        if err.code != 416:  # 416: the partial file is already whole
            raise
        return
    with response:
        if response.status != 206:
            have = 0  # the server ignored the range: start over
        length = response.headers.get("Content-Length")
        total = have + int(length) if length else None
        bar = _Bar(Path(url).name, total, quiet)
        with open(part, "ab" if have else "wb") as f:
            done = have
            while block := response.read(1 << 20):
                f.write(block)
                done += len(block)
                bar.update(done)
        bar.close(done)
    if total is not None and part.stat().st_size != total:
        raise OSError(f"connection ended after {part.stat().st_size} of {total} bytes (run again to resume)")


class _Bar:
    """Bytes downloaded on stderr: a bar on a terminal, a line every 10% otherwise."""

    def __init__(self, label: str, total: int | None, quiet: bool):
        self.label, self.total, self.quiet = label, total, quiet
        self.tty = sys.stderr.isatty()
        self.started = time.perf_counter()
        self.shown = -1

    def update(self, done: int) -> None:
        if self.quiet:
            return
        share = done / self.total if self.total else None
        step = int(share * 10) if share is not None else done >> 27
        if not self.tty and step == self.shown:
            return
        self.shown = step
        rate = done / max(time.perf_counter() - self.started, 1e-6) / 1e6
        size = f"{done / 1e6:.1f}" + (f"/{self.total / 1e6:.1f}" if self.total else "") + " MB"
        pct = f" {share * 100:5.1f}%" if share is not None else ""
        line = f"{self.label}{pct} {size} {rate:.1f} MB/s"
        sys.stderr.write(f"\r{line}\x1b[K" if self.tty else line + "\n")
        sys.stderr.flush()

    def close(self, done: int) -> None:
        if not self.quiet and self.tty:
            sys.stderr.write("\n")


def parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def listing() -> list[dict]:
    """Every known model: where its file is, whether present and whether it checks out."""
    rows = []
    for name, info in cards().items():
        present = installed(name)
        problem = verify(name) if present else "not installed"
        rows.append({"name": name, "file": info.file, "licence": info.licence, "about": info.about,
                     "path": str(weights_path(name)), "installed": present, "problem": problem,
                     "imported_from": manifest(name)["source_file"] if present else None})
    return rows

