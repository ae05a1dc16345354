"""The model store: import, verify, refuse code, download with resume from a local server,
'dfstream models', and network stages end to end with generated weights."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import threading
from dataclasses import replace
from pathlib import Path

import av
import pytest
import torch

from dfstream.engines import store
from dfstream.engines.cartoonize.animegan import AnimeGANv2
from dfstream.engines.cartoonize.cartoongan import CartoonGAN
from dfstream.engines.colorize.deoldify import ARTISTIC, DeOldify
from dfstream.engines.stabilize.convlstm import TransformNet
from dfstream.errors import DfstreamError
from tests import published as P
from tests.conftest import WALKERS, needs_media, run_cli


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DFSTREAM_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def animegan_file(path: Path, seed: int = 0) -> Path:
    torch.save(P.randomised(AnimeGANv2().state_dict(), seed), path)
    return path


class Evil:
    def __reduce__(self):
        return (os.system, ("echo ran > /dev/null",))


def test_a_checkpoint_carrying_code_is_refused(tmp_path, home):
    torch.save({"model": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(DfstreamError, match="names posix.system, which would run code"):
        store.import_file("convlstm", tmp_path / "evil.pth")
    assert not store.installed("convlstm")


def test_only_deoldify_may_hold_slices(tmp_path, home):
    state = TransformNet().state_dict()
    torch.save({"model": state, "optimizer": {"groups": [slice(0, 1)]}}, tmp_path / "x.pth")
    with pytest.raises(DfstreamError, match="slice"):
        store.import_file("convlstm", tmp_path / "x.pth")


def test_import_writes_safetensors_and_a_manifest_then_verify_catches_damage(tmp_path, home):
    source = animegan_file(tmp_path / "paprika.pt")
    record = store.import_file("animegan2-paprika", source)
    manifest = json.loads((home / "models" / "animegan2-paprika.json").read_text())
    assert manifest == record
    assert manifest["source_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert manifest["sha256"] == hashlib.sha256(store.weights_path("animegan2-paprika").read_bytes()).hexdigest()
    assert manifest["parameters"] == 2_143_552 and manifest["architecture"] == "animegan2"
    assert store.verify("animegan2-paprika") is None
    loaded = store.load("animegan2-paprika").state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in torch.load(source).items())
    with open(store.weights_path("animegan2-paprika"), "r+b") as f:
        f.seek(-8, os.SEEK_END)
        f.write(b"\x00" * 8)
    assert "checksum" in store.verify("animegan2-paprika")


def test_a_checkpoint_missing_a_key_is_refused_naming_that_key(tmp_path, home):
    state = P.randomised(CartoonGAN().state_dict(), 0)
    gone = next(k for k in state if k.endswith(".weight"))
    del state[gone]
    torch.save(state, tmp_path / "g.pth")
    with pytest.raises(DfstreamError, match=f"checkpoint key '{gone}' is missing"):
        store.import_file("cartoongan-hayao", tmp_path / "g.pth")
    torch.save(TransformNet().state_dict(), tmp_path / "other.pth")  # another network's file
    with pytest.raises(DfstreamError, match="unknown checkpoint key .* for another network"):
        store.import_file("cartoongan-hayao", tmp_path / "other.pth")


def test_stored_files_follow_the_umask_and_the_engine_cache_reuses_the_manifest_checksum(tmp_path, home):
    from dfstream.export import cache

    store.import_file("animegan2-paprika", animegan_file(tmp_path / "paprika.pt"))
    modes = {p.suffix: p.stat().st_mode & 0o777 for p in (home / "models").iterdir()}
    assert modes == {".safetensors": 0o666 & ~store.UMASK, ".json": 0o666 & ~store.UMASK}
    module = store.load("animegan2-paprika")
    assert cache.weights_sha256(module) == store.manifest("animegan2-paprika")["sha256"]
    assert len(cache.weights_sha256(AnimeGANv2())) == 64  # a module of no store: its tensors, hashed


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves one file; honours 'Range: bytes=N-'; can cut the first response short."""

    body = b""
    cut_after: int | None = None
    ranges: list = []

    def do_GET(self):  # noqa: N802 - http.server's naming
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].rstrip("-"))
        type(self).ranges.append(start)
        data = self.body[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.cut_after is not None:
            data, type(self).cut_after = data[: self.cut_after], None
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()


def test_download_resumes_checks_sha256_and_imports(tmp_path, home, server, monkeypatch):
    body = animegan_file(tmp_path / "paprika.pt").read_bytes()
    RangeHandler.body, RangeHandler.cut_after, RangeHandler.ranges = body, len(body) // 3, []
    url = f"http://127.0.0.1:{server.server_port}/paprika.pt"
    card = replace(store.card("animegan2-paprika"), urls=(url,), sha256=hashlib.sha256(body).hexdigest())
    monkeypatch.setitem(store.CARDS, "animegan2-paprika", card)
    with pytest.raises(DfstreamError, match="could not download"):
        store.download("animegan2-paprika", quiet=True)  # the connection drops a third of the way
    record = store.download("animegan2-paprika", quiet=True)  # ... and the next run resumes
    assert RangeHandler.ranges == [0, len(body) // 3]
    assert record["published"] is True and store.verify("animegan2-paprika") is None
    assert not any((home / "models" / "downloads").iterdir())  # nothing left behind

    bad = replace(card, sha256="0" * 64)
    monkeypatch.setitem(store.CARDS, "animegan2-paprika", bad)
    with pytest.raises(DfstreamError, match="does not match its published sha256"):
        store.download("animegan2-paprika", quiet=True)


def test_offline_download_says_where_to_put_the_file(home, monkeypatch):
    card = replace(store.card("cartoongan-hayao"), urls=("http://127.0.0.1:9/Hayao_net_G_float.pth",))
    monkeypatch.setitem(store.CARDS, "cartoongan-hayao", card)
    with pytest.raises(DfstreamError) as err:
        store.download("cartoongan-hayao", quiet=True)
    assert "dfstream models import cartoongan-hayao Hayao_net_G_float.pth" in str(err.value)


def test_models_command_lists_imports_and_verifies(tmp_path, home):
    source = animegan_file(tmp_path / "face.pt")
    done = run_cli("models", "import", "animegan2-face_paint_512_v2", source)
    assert done.returncode == 0, done.stderr
    assert b"2,143,552 parameters" in done.stdout
    listing = run_cli("models", "list").stdout.decode()
    assert "animegan2-face_paint_512_v2" in listing and str(home / "models") in listing
    rows = {line.split()[0]: line.split()[1] for line in listing.splitlines()[1:] if line.startswith("  ") and line.split()[0].count("-")}
    assert rows["animegan2-face_paint_512_v2"] == "ok" and rows["deoldify-video"] == "not"
    assert run_cli("models", "verify").returncode == 0
    store.weights_path("animegan2-face_paint_512_v2").write_bytes(b"broken")
    failed = run_cli("models", "verify")
    assert failed.returncode == 1 and b"failed verification" in failed.stderr
    unknown = run_cli("models", "import", "deoldify-huge", source)
    assert unknown.returncode == 2 and b"unknown model 'deoldify-huge'" in unknown.stderr


def test_missing_weights_fail_before_decoding_with_the_command(tmp_path, home, clip):
    done = run_cli("run", clip, tmp_path / "out.mkv", "--stages",
                   "cartoonize", "--cartoonizer", "cartoongan:shinkai")
    assert done.returncode == 1
    line = done.stderr.decode().strip()
    assert line.count("\n") == 0
    assert "dfstream models download cartoongan-shinkai" in line
    assert not (tmp_path / "out.mkv").exists()
    assert not list(tmp_path.glob("*out*"))


@needs_media(WALKERS)
def test_network_chain_runs_end_to_end_on_real_footage(tmp_path, home):
    torch.save(P.deoldify_published(P.randomised(DeOldify(ARTISTIC).state_dict())), tmp_path / "art.pth")
    net = TransformNet()
    torch.save({"model": P.randomised(net.state_dict()), "optimizer": {}}, tmp_path / "lai.pth")
    torch.save(P.randomised(CartoonGAN().state_dict()), tmp_path / "cg.pth")
    for name, file in (("deoldify-artistic", "art.pth"), ("convlstm", "lai.pth"), ("cartoongan-paprika", "cg.pth")):
        store.import_file(name, tmp_path / file)
    out = tmp_path / "out.mp4"
    done = run_cli("run", WALKERS, out, "-t", "0.15", "--max-height", "96", "--render-factor", "4", "--backend",
                   "torch", "--stages", "colorize,stabilize,cartoonize", "--progress", "none", timeout=300)
    assert done.returncode == 0, done.stderr
    assert b"colorize=deoldify-artistic" in done.stderr and b"stabilize=convlstm" in done.stderr
    assert b"cartoonize=cartoongan" in done.stderr
    with av.open(str(out)) as container:
        video = container.streams.video[0]
        assert (video.width, video.height) == (1280, 720)
        assert sum(1 for _ in container.decode(video)) >= 3
        assert container.streams.audio  # the audio rides along
