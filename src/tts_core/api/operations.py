"""What operators and monitors use: the health of the route and the engines, the route override and
the voice bootstrap (the last two IAM-signed). The health probe function moves the route by itself;
these let a person see it and force it."""

from __future__ import annotations

import json
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from tts_core.api.http import API_KEY, IAM, check_raw_body, documented, json_answer, owner, settings
from tts_core.api.schemas import AcceptedBody, HealthBody, RouteBody, RouteOverride, VoiceReadiness
from tts_core.models import EngineName
from tts_core.platform import aws
from tts_core.platform.observability import logger
from tts_core.routing import signals as routing
from tts_core.routing.breaker import BY_OPERATOR
from tts_core.routing.route_store import RouteStore, RouteStoreError
from tts_core.voices import directory

router = Router()
# What any key may see of the route document: where requests go and why, not who or what saw failures.
PUBLIC_ROUTE_FIELDS = frozenset({"route", "state", "since", "reason", "cooldown_until", "override"})


@router.post("/api/voices/bootstrap", security=IAM,
             summary="Re-run the voice bootstrap (operators, IAM-signed)",
             description="Starts the function that gives every catalogue voice a reference recorded by the fallback "
                         "engine (or an operator-supplied one) and prepares it on the primary; GET /api/voices shows "
                         "the outcome.",
             responses=documented({202: ("started", AcceptedBody)}))
def rerun_bootstrap() -> Response[str]:
    conf = settings()
    aws.client("lambda").invoke(FunctionName=conf.voice_bootstrap_function_name, InvocationType="Event",
                                Payload=json.dumps({"force": False}).encode())
    return json_answer(202, AcceptedBody(message="the voice bootstrap is running; GET /api/voices shows its outcome"))


@router.get("/api/health", security=API_KEY,
            summary="The route document, each engine's state and each voice's readiness",
            responses=documented({200: ("the route, the engines and the voices", HealthBody)}))
def health() -> Response[str]:
    try:
        document = RouteStore(settings().route_parameter_name).read()[0].model_dump(mode="json")
        route: dict[str, Any] = {k: v for k, v in document.items() if k in PUBLIC_ROUTE_FIELDS}
    except RouteStoreError as exc:  # the route hint is advisory: report, never fail the health call
        logger.warning("route document unreadable", extra={"error": str(exc)})
        route = {"route": "primary", "reason": f"route document unreadable: {exc.code}"}
    engines = {EngineName.PRIMARY: "fallback-routed" if route["route"] == "fallback" else "in service",
               EngineName.FALLBACK: "in service", EngineName.OFFLINE: "last resort"}
    voices = {e.id: VoiceReadiness(primary_ready=e.primary_ready, primary_reason=e.primary_reason)
              for e in directory.list_for(settings().bucket_name, owner(router.current_event))}
    return json_answer(200, HealthBody(route=route, engines=engines, voices=voices))


@router.put("/api/route", enable_validation=True, security=IAM, summary="Force the route (operators, IAM-signed)",
            responses=documented({200: ("the new route document", RouteBody)}, (400, 415)))
def override_route(body: Annotated[RouteOverride, Body(description="a route, or null to clear")]) -> Response[str]:
    event = router.current_event
    check_raw_body(event)
    identity = event.request_context.identity
    # Who it was goes to the log only: every key reads the route document (GET /api/health).
    logger.info("route overridden", extra={"override": body.override,
                                           "operator": identity.user_arn or identity.source_ip or "unknown"})
    doc = routing.set_override(RouteStore(settings().route_parameter_name), body.override, by=BY_OPERATOR)
    return json_answer(200, RouteBody(route=doc))
