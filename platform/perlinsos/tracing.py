"""Optional OpenTelemetry traces (``pip install 'perlinsos[otel]'``; docs/operations/observability.md).

With the ``otel`` extra installed and an OTLP endpoint configured the standard way
(``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``; ``OTEL_SERVICE_NAME``
and the other ``OTEL_*`` variables are read by the SDK itself), every HTTP request to the app and
every ``httpx`` call it makes (identity providers, data sources, gateways) becomes a span, exported
over OTLP/HTTP. Without either, nothing is imported and nothing changes.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)
ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_provider = None  # one per process: OpenTelemetry's global provider can be set once


def instrument(app) -> bool:
    """Instrument ``app`` (a Starlette app) and httpx when configured; whether it was."""
    global _provider
    if not any(os.environ.get(name) for name in ENDPOINTS):
        return False
    # health probes and scrapes would drown the traces that matter (read when the module is imported)
    os.environ.setdefault("OTEL_PYTHON_STARLETTE_EXCLUDED_URLS", "health,metrics")
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        from opentelemetry.instrumentation.starlette import StarletteInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        log.warning("OTEL_EXPORTER_OTLP_* is set but the otel extra is not installed (%s): no traces", exc.name)
        return False
    if _provider is None:
        _provider = TracerProvider(resource=Resource.create({"service.name": os.environ.get(
            "OTEL_SERVICE_NAME", "perlinsos")}))
        _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(_provider)
        HTTPXClientInstrumentor().instrument(tracer_provider=_provider)
    StarletteInstrumentor.instrument_app(app, tracer_provider=_provider)
    return True


def flush() -> None:
    """Export the spans still buffered (at shutdown)."""
    if _provider is not None:
        _provider.force_flush(5_000)
