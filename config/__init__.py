"""The hotline directory and site configuration."""

from config.loader import ConfigError, load, parse
from config.schema import Hotline, Mode, Seat, SiteConfig, Trunk, Zone

__all__ = ["ConfigError", "Hotline", "Mode", "Seat", "SiteConfig", "Trunk", "Zone", "load", "parse"]
