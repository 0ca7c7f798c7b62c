"""Shared core of the text-to-speech service.

Layers: Lambda handlers (functions/*/app.py) parse events and call one function here; the modules
here know nothing of Lambda events. The subpackages group them by concern:

- top level: the contract every layer shares: `models` (schemas at the edges), `errors` (stable codes),
  `audio` (the one audio format), `config` (typed settings from the environment);
- `api`: the HTTP API and web page; `pipeline`: a synthesis from entry to result record;
- `routing`: the circuit breaker and the route document; `engines`: the engines behind one interface;
- `voices`: the catalogue and the speaker prompts; `platform`: AWS clients, storage, secrets, logging.

boto3 is reached only through `tts_core.platform.aws` clients, by the data-access modules:
`platform.storage` (S3), `pipeline.jobs` and `pipeline.attempts` (Step Functions), `routing.route_store`
(SSM), `platform.secrets` (Secrets Manager) and `routing.signals` (the probe's invoke of the primary).
"""
