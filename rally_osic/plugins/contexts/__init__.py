"""Rally contexts of rally-osic (live-migration studies)."""
