"""Known-bad drivers: each a small variation of a reference driver, with the bug it ships."""
