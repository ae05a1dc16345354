"""Cartoonizers: a drawn look (networks first: preferred when installed, CartoonGAN as the seed)."""

from . import cartoongan  # noqa: F401, I001  (registration order is preference order)
from . import animegan, classic  # noqa: F401
