"""Callback Monitor's Qt-free core: receiver, store, simulator, error catalogue, Twilio set-up, tunnel."""

# The one place the version is written: pyproject.toml, --version and build.spec all read it here.
__version__ = "0.1.0"
