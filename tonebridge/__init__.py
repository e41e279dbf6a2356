"""tonebridge: keeps the ToneBridge text-tone models improving from their users' feedback."""

__version__ = "0.1.0"
