"""The HTTP API (API Gateway proxy events, powertools event handler).

- `handler`: one event in, one answer out (resolve, then wait for a started synthesis);
- `app`: the resolver, its error handling, the page and the OpenAPI route; `openapi`: the document;
- `synthesis`, `voices`, `operations`: the routes, by concern; `http`: what every route shares;
- `schemas`: the answers' models (the OpenAPI document is generated from them and the requests' models).
"""
