"""``/healthz`` for probes and ``/metrics`` for Prometheus.

``/healthz`` returns 200 only when the store completes a query and every
worker reports alive. The queue's depth and oldest age are reported but do
not fail the check, because a slow smarthost is an alert for monitoring,
not a reason for an orchestrator to restart the gateway.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3

from aiohttp import web
from prometheus_client.exposition import choose_encoder

from gateway.logs import event, get_logger
from gateway.metrics import QUEUE_DEPTH, QUEUE_OLDEST_AGE, REGISTRY
from gateway.web.context import WebContext, context_of
from store.errors import StoreError

log = get_logger("web")

STORE_TIMEOUT_SECONDS = 5.0


def routes() -> list[web.AbstractRouteDef]:
    return [web.get("/healthz", healthz), web.get("/metrics", metrics)]


async def queue_stats(context: WebContext) -> tuple[int, float] | None:
    """Return the outbox depth and oldest age, or None when the store query fails or times out."""
    try:
        return await asyncio.wait_for(
            context.run(context.store.outbox_stats, context.clock()), timeout=STORE_TIMEOUT_SECONDS
        )
    except (sqlite3.Error, StoreError, TimeoutError) as error:
        event(log, logging.ERROR, "store-unreachable", error=repr(error))
        return None


async def healthz(request: web.Request) -> web.Response:
    context = context_of(request)
    stats = await queue_stats(context)
    workers = context.workers_alive()
    healthy = stats is not None and all(workers.values())
    body = {
        "status": "ok" if healthy else "failing",
        "store": stats is not None,
        "workers": workers,
        "queue": None if stats is None else {"depth": stats[0], "oldest_age_seconds": round(stats[1], 3)},
    }
    return web.json_response(body, status=200 if healthy else 503)


async def metrics(request: web.Request) -> web.Response:
    stats = await queue_stats(context_of(request))
    if stats is not None:
        QUEUE_DEPTH.set(stats[0])
        QUEUE_OLDEST_AGE.set(stats[1])
    # The client library picks the text format or OpenMetrics from the scraper's Accept header.
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = await asyncio.to_thread(encoder, REGISTRY)
    response = web.Response(body=body)
    # aiohttp's content_type argument refuses parameters such as version and charset.
    response.headers["Content-Type"] = content_type
    return response
