"""Runs the SAM app outside AWS: the resources of template.yaml on moto, the real ASL, and the
project's own Lambda handlers dispatched in-process."""
