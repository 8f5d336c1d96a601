"""The sections of the box's file; every module here registers one (see ../registry.py)."""
