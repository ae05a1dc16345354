"""The published networks' model cards: where each file comes from, its checksum and licence, and
which architecture reads it (like timm's pretrained configs). Plain data, so that listing the
models needs neither torch nor the networks; the architectures register with the store."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelCard:
    name: str  # store name, e.g. deoldify-video
    architecture: str  # the name an engine module registers its Architecture under
    file: str  # the published file name
    urls: tuple[str, ...]  # official first, mirrors after
    sha256: str | None  # of the published file, where it is known
    licence: str
    about: str


CARDS: dict[str, ModelCard] = {}


def _add(*args) -> None:
    CARDS[args[0]] = ModelCard(*args)


_DEEPAI = "https://data.deepai.org/deoldify/"
_HF = "https://huggingface.co/spensercai/DeOldify/resolve/main/"
for _variant, _file, _about in (
        ("video", "ColorizeVideo_gen.pth", "DeOldify video: least flicker, default render factor 21"),
        ("stable", "ColorizeStable_gen.pth", "DeOldify stable: portraits and landscapes"),
        ("artistic", "ColorizeArtistic_gen.pth", "DeOldify artistic: bolder colours, ResNet-34")):
    _add(f"deoldify-{_variant}", f"deoldify-{_variant}", _file, (_DEEPAI + _file, _HF + _file), None,
         "MIT (DeOldify, Jason Antic)", _about)

_add("convlstm", "convlstm", "ECCV18_blind_consistency.pth",
     ("http://vllab.ucmerced.edu/wlai24/video_consistency/models/ECCV18_blind_consistency.pth",),
     None, "MIT (Lai et al. 2018; the published file is no longer served)",
     "Lai et al. blind video consistency; import a checkpoint trained with 'dfstream train'")

CARTOONGAN_STYLES = ("hayao", "hosoda", "paprika", "shinkai")
for _style in CARTOONGAN_STYLES:
    _file = f"{_style.title()}_net_G_float.pth"
    _add(f"cartoongan-{_style}", "cartoongan", _file,
         (f"http://vllab1.ucmerced.edu/~yli62/CartoonGAN/pytorch_pth/{_file}",), None,
         "research use (CartoonGAN authors; no licence published)", f"CartoonGAN {_style.title()} style")

ANIMEGAN_STYLES = ("paprika", "face_paint_512_v2", "face_paint_512_v1", "celeba_distill")
for _style in ANIMEGAN_STYLES:
    _add(f"animegan2-{_style}", "animegan2", f"{_style}.pt",
         (f"https://github.com/bryandlee/animegan2-pytorch/raw/main/weights/{_style}.pt",), None,
         "MIT code (bryandlee); styles from AnimeGANv2, non-commercial", f"AnimeGANv2 {_style.replace('_', ' ')}")
