"""Shared core of the text-to-speech service.

Layers: Lambda handlers (functions/*/app.py) parse events and call one function here; the modules
here know nothing of Lambda events. boto3 is reached only through `tts_core.aws` clients, by the
data-access modules: `storage` (S3), `jobs` and `attempts` (Step Functions), `route_store` (SSM),
`secrets` (Secrets Manager) and `routing` (the probe's invoke of the primary).
"""
