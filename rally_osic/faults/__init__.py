"""Fault layer of rally-osic (non-plugin code; see plugins/hooks)."""
