"""theset-daemon: keeps TheSet's copy of artists, shows, venues and songs fresh."""

__version__ = "0.1.0"
