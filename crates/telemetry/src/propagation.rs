//! W3C trace context across process boundaries. The caller writes its span's context as
//! `traceparent` (and `tracestate`) into whatever the call carries — HTTP headers, gRPC metadata,
//! an event's envelope and message headers — and the receiver makes its own span a child of it,
//! so that one checkout is one trace across the gateway, the services and the broker.
//!
//! Without an OTLP endpoint spans have no trace context: nothing is written and nothing is read.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub const TRACEPARENT: &str = "traceparent";
pub const TRACESTATE: &str = "tracestate";

/// `span`'s trace context as the headers to send along (`traceparent`, and `tracestate` when
/// there is one); empty when traces are off.
pub fn headers_of(span: &Span) -> Vec<(&'static str, String)> {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return Vec::new();
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    [TRACEPARENT, TRACESTATE]
        .into_iter()
        .filter_map(|name| carrier.remove(name).filter(|v| !v.is_empty()).map(|v| (name, v)))
        .collect()
}

/// The current span's `traceparent`, for an event emitted here.
pub fn current_traceparent() -> Option<String> {
    headers_of(&Span::current()).into_iter().find(|(name, _)| *name == TRACEPARENT).map(|(_, v)| v)
}

/// Makes `span` (not yet entered) a child of the caller whose trace context `header` finds.
/// A missing or malformed `traceparent` leaves `span` the root of a new trace.
pub fn continue_from(span: &Span, header: impl Fn(&str) -> Option<String>) {
    let Some(traceparent) = header(TRACEPARENT) else { return };
    let mut carrier = HashMap::from([(TRACEPARENT.to_string(), traceparent)]);
    if let Some(state) = header(TRACESTATE) {
        carrier.insert(TRACESTATE.to_string(), state);
    }
    let parent = TraceContextPropagator::new().extract(&carrier);
    if parent.span().span_context().is_valid() {
        // Fails only when traces are off (no layer) or the span already started: nothing to join.
        let _ = span.set_parent(parent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_tracer_nothing_is_carried() {
        let span = tracing::info_span!("request");
        assert!(headers_of(&span).is_empty());
        assert_eq!(current_traceparent(), None);
        // And reading a context does not fail.
        continue_from(&span, |_| Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()));
    }
}
