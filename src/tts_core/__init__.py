"""Shared core of the text-to-speech service.

Layers: Lambda handlers (functions/*/app.py) parse events and call one function here;
the modules here know nothing of Lambda events; `storage` and `route` alone touch boto3.
"""
