"""``dfstream data`` (training images from films, CartoonGAN's edge-smoothed set) and
``dfstream train`` (the ConvLSTM stabilizer, CartoonGAN)."""

from __future__ import annotations

import sys
from dataclasses import fields


def add_parsers(sub, parser_class, positive_int, positive_float) -> None:
    data = sub.add_parser("data", help="prepare training images: frames from films, edge-smoothed cartoons")
    dsub = data.add_subparsers(dest="action", parser_class=parser_class, required=True)
    frames = dsub.add_parser("frames", help="one frame every N seconds of each film, without black or credit frames")
    frames.add_argument("films", nargs="+", help="video files")
    frames.add_argument("-o", "--output", required=True, help="folder for the PNG frames")
    frames.add_argument("--every", type=positive_float, default=3.0, help="seconds between frames (default 3)")
    frames.add_argument("--size", type=positive_int, default=256, help="side of the square crops (default 256)")
    smooth = dsub.add_parser("edge-smooth", help="CartoonGAN's edge-promoted copies of a folder of cartoon images")
    smooth.add_argument("folder", help="the cartoon images")
    smooth.add_argument("-o", "--output", required=True, help="folder for the smoothed images (same names, PNG)")
    data.set_defaults(func=cmd_data)

    train = sub.add_parser("train", help="train the ConvLSTM stabilizer or CartoonGAN")
    tsub = train.add_subparsers(dest="network", parser_class=parser_class, required=True)
    stab = tsub.add_parser("stabilizer", help="Lai et al.'s ConvLSTM with perceptual and temporal losses")
    stab.add_argument("videos", nargs="+", help="input videos or folders of frames")
    made = stab.add_mutually_exclusive_group(required=True)
    made.add_argument("--processed", nargs="+", metavar="VIDEO",
                      help="their per-frame processed versions (videos or folders), in the same order")
    made.add_argument("--process", nargs="+", metavar="HOW",
                      help="make them on the fly, one way drawn per clip: jitter, classic[:PRESET] or STAGE=ENGINE")
    stab.add_argument("--held-out", nargs="+", metavar="VIDEO",
                      help="videos for the warping error each epoch (default: fixed clips of the training set)")
    stab.add_argument("--held-out-processed", nargs="+", metavar="VIDEO")
    stab.add_argument("--short-side", type=positive_int, help="scale frames to this short side when loading")
    stab.set_defaults(trainer="stabilizer")
    cart = tsub.add_parser("cartoongan", help="CartoonGAN: initialisation, then the edge-promoting GAN")
    cart.add_argument("--photos", required=True, help="folder of photos (or film frames: 'dfstream data frames')")
    cart.add_argument("--cartoons", required=True, help="folder of frames in the target style")
    cart.add_argument("--smoothed", help="their edge-smoothed copies (default: made on the fly)")
    cart.set_defaults(trainer="cartoongan")
    for p, config in ((stab, "StabilizerConfig"), (cart, "CartoonGANConfig")):
        p.add_argument("-o", "--output", required=True, help="run folder: checkpoints, log, samples")
        p.add_argument("--vgg", metavar="FILE", help="torchvision's VGG weights file for the perceptual loss "
                       "(vgg16 for the stabilizer, vgg19 for CartoonGAN); without it a pixel-and-gradient L1")
        p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
        p.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
        p.add_argument("--stop-after", type=positive_int, metavar="N", help="stop after N more iterations")
        p.add_argument("--quiet", action="store_true", help="no line per iteration")
        p.set_defaults(config=config)
        _config_arguments(p, config)
    train.set_defaults(func=cmd_train)


def _config_arguments(parser, config: str) -> None:
    """One option per field of the trainer's config, with its default."""
    from dfstream.training import configs

    cls = getattr(configs, config)
    for f in fields(cls):
        flag = "--" + f.name.replace("_", "-")
        kind = type(f.default)
        extra = {"choices": ("lsgan", "bce")} if f.name == "gan" else {}
        parser.add_argument(flag, type=kind, default=f.default, dest=f"cfg_{f.name}", metavar=kind.__name__.upper(),
                            help=f"(default {f.default})", **extra)


def cmd_data(args) -> int:
    from dfstream.training.data import edge_smooth_folder, sample_frames

    if args.action == "frames":
        report = sample_frames(args.films, args.output, args.every, args.size)
        print(f"{len(report.kept)} frames written to {args.output}; dropped {len(report.black)} black "
              f"and {len(report.credits)} credit frames", file=sys.stderr)
    else:
        count = edge_smooth_folder(args.folder, args.output)
        print(f"{count} edge-smoothed images written to {args.output}", file=sys.stderr)
    return 0


def cmd_train(args) -> int:
    from dfstream.device import resolve_device
    from dfstream.training import cartoongan, stabilizer
    from dfstream.training.datasets import Images, VideoClips
    from dfstream.training.losses import perceptual

    device = str(resolve_device(args.device))
    say = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    values = {k[4:]: v for k, v in vars(args).items() if k.startswith("cfg_")}
    if args.trainer == "stabilizer":
        config = stabilizer.StabilizerConfig(**values)
        clips = dict(length=config.clip_length, crop=config.crop, short_side=args.short_side)
        data = VideoClips(args.videos, args.processed, args.process, **clips)
        held = VideoClips(args.held_out, args.held_out_processed, args.process, **clips) if args.held_out else None
        trainer = stabilizer.StabilizerTrainer(data, held, args.output, config, perceptual(args.vgg, "relu4_3"),
                                               device, say=say)
    else:
        config = cartoongan.CartoonGANConfig(**values)
        photos = Images(args.photos, config.size)
        cartoons = Images(args.cartoons, config.size, paired=args.smoothed, smooth=not args.smoothed)
        trainer = cartoongan.CartoonGANTrainer(photos, cartoons, args.output, config,
                                               perceptual(args.vgg, "conv4_4"), device, say=say)
    if args.resume:
        trainer.resume()
    try:
        trainer.train(args.stop_after)
    except KeyboardInterrupt:
        print(f"dfstream: training stopped at iteration {trainer.iteration}; continue from the last "
              f"checkpoint ({trainer.checkpoint_path}) with --resume", file=sys.stderr)
        return 130
    print(f"trained to iteration {trainer.iteration}; checkpoint in {trainer.checkpoint_path}", file=sys.stderr)
    return 0
