"""Rally plugins of rally-osic (loaded through the ``rally_plugins`` entry
point: every module below this package is imported by Rally at start-up, so
heavy dependencies must be imported inside functions only)."""
