"""Shared core of the text-to-speech service.

Lambda handlers (functions/*/app.py) parse events and call one function here; the modules here know
nothing of Lambda events, nor of the local emulator (infra/tts_local installs what running many
invocations in one process needs). The layers, bottom to top; a module imports only from its own group
and from lower layers, never up nor sideways (tests/static/test_layers.py keeps it so):

0. contract, the top-level modules: `errors` (stable codes), `audio` (the one audio format), `deadline`,
   `catalogue` (the built-in voices), `segmentation` (text into engine-sized pieces), `models` (schemas
   at the edges);
1. pure processing over the contract, no AWS: `text` (the text front end), `delivery` (audio as published);
2. `platform`: AWS clients, S3 storage and its key scheme, secrets, configuration, logging and metrics;
3. `engines` (the engines behind one interface; what they need from above comes through ports, such as a
   voice store) | `voices` (custom voices: registry, preparation, listings) | `tenancy` (per-key limits);
4. `routing`: the circuit breaker and the route document;
5. `pipeline`: a synthesis from entry to result record; 6. `books`: manuscripts by chapter;
7. `api`: the HTTP API and the web page.

boto3 is reached only through `tts_core.platform.aws` clients, by the data-access modules:
`platform.storage` (S3), `platform.secrets` (Secrets Manager), `pipeline.jobs` and `pipeline.attempts`
(Step Functions), `routing.route_store` (SSM), `routing.signals` (the probe's invoke of the primary),
`voices.prepare` and the API's operator routes (Lambda invokes).
"""
