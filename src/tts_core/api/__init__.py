"""The HTTP API (API Gateway proxy events, powertools event handler): routes, answer schemas, the
OpenAPI document generated from them, and the web page. Talks to the pipeline only through `pipeline.jobs`."""
