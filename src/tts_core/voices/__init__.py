"""Voices: the built-in catalogue (which engine voice serves each project voice) and the registry of
speaker prompts the primary engine clones."""
