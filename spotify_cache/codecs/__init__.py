"""The value pipeline: serialize -> compress -> seal, framed with an explicit header."""

from .pipeline import ValueCodec, build_codec

__all__ = ["ValueCodec", "build_codec"]
