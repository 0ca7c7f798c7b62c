"""The lexicon routes: list, read, store, delete (a key sees its own lexicons only: another's is 404)."""

from __future__ import annotations

import re
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from tts_core.api.http import API_KEY, check_raw_body, documented, json_answer, owner, settings
from tts_core.api.schemas import LexiconBody, LexiconsBody, LexiconSummary, PutLexicon
from tts_core.errors import InvalidInputError, InvalidLexiconError, quoted
from tts_core.models import LEXICON_NAME_PATTERN
from tts_core.pipeline import lexicons
from tts_core.platform.observability import logger
from tts_core.text.lexicon import parse_lexicon

LEXICONS_PATH = "/api/lexicons"
router = Router()


def _checked(name: str) -> str:
    if not re.match(LEXICON_NAME_PATTERN, name):
        raise InvalidInputError(f"lexicon name '{quoted(name)}' must be 1-40 letters, digits, '-' or '_'")
    return name


def _body(record: lexicons.LexiconRecord) -> LexiconBody:
    return LexiconBody(name=record.name, lexemes=record.lexemes, updated_at=record.updated_at)


@router.get(LEXICONS_PATH, security=API_KEY, summary="Your pronunciation lexicons",
            responses=documented({200: ("your lexicons", LexiconsBody)}))
def list_lexicons() -> Response[str]:
    bucket, caller = settings().bucket_name, owner(router.current_event)
    records = [lexicons.get(bucket, caller, name) for name in lexicons.names(bucket, caller)]
    return json_answer(200, LexiconsBody(lexicons=[LexiconSummary(name=r.name, lexemes=len(r.lexemes),
                                                                  updated_at=r.updated_at) for r in records]))


@router.get(f"{LEXICONS_PATH}/<name>", security=API_KEY, summary="One of your lexicons",
            responses=documented({200: ("the lexicon", LexiconBody)}, (400, 404)))
def get_lexicon(name: str) -> Response[str]:
    return json_answer(200, _body(lexicons.get(settings().bucket_name, owner(router.current_event), _checked(name))))


@router.put(f"{LEXICONS_PATH}/<name>", enable_validation=True, security=API_KEY, summary="Store a lexicon",
            description="Creates or replaces one of your lexicons. A request names up to 5 in `lexicons`: they apply "
                        "before segmentation, the same for every engine, longest match first; an alias is said by "
                        "every engine, a phoneme by the engines that honour its alphabet (docs/text.md).",
            responses=documented({200: ("the stored lexicon", LexiconBody)}, (400, 409, 413, 415)))
def put_lexicon(name: str,
                body: Annotated[PutLexicon, Body(description="lexemes, or a PLS document")]) -> Response[str]:
    event = router.current_event
    check_raw_body(event)
    if (body.lexemes is None) == (body.pls is None):
        raise InvalidLexiconError("send exactly one of lexemes or pls")
    lexicon = parse_lexicon(body.model_dump(exclude_none=True, mode="json"))
    record = lexicons.put(settings().bucket_name, owner(event), _checked(name), lexicon)
    logger.info("lexicon stored", extra={"lexicon": name, "lexemes": len(record.lexemes)})
    return json_answer(200, _body(record))


@router.delete(f"{LEXICONS_PATH}/<name>", security=API_KEY, summary="Delete one of your lexicons",
               responses=documented({200: ("deleted", LexiconBody)}, (400, 404)))
def delete_lexicon(name: str) -> Response[str]:
    record = lexicons.delete(settings().bucket_name, owner(router.current_event), _checked(name))
    logger.info("lexicon deleted", extra={"lexicon": name})
    return json_answer(200, _body(record))
