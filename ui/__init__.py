"""labqueue's window: Qt widgets and item models over the engine in ``core`` (never the reverse)."""
