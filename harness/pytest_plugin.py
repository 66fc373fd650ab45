"""pytest plugin: collects scenario files as test items (registered through ``pytest11``)."""
