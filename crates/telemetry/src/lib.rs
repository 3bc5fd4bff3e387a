//! What a Comptoir process tells its operators: log lines (JSON for machines, readable text in a
//! terminal) and, when an OTLP endpoint is configured, OpenTelemetry traces.
//!
//! Spans are ordinary `tracing` spans; this crate turns them into OpenTelemetry spans and carries
//! their W3C trace context (`traceparent`) from one process to the next: in HTTP headers, gRPC
//! metadata and event messages ([`propagation`]). Every log line written inside a request's spans
//! carries the request's correlation id, because the spans that start work (HTTP request, gRPC
//! call received, event handled) each record it.

pub mod module_load;
pub mod propagation;
mod traces;

use std::io::IsTerminal;

use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

pub use traces::TracesSettings;

/// How log lines look and which are written.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// `auto` (text in a terminal, JSON otherwise), `json` or `text`.
    pub format: String,
    /// A tracing filter (`info`, `comptoir=debug,sqlx=warn`); `RUST_LOG` wins when set.
    pub level: String,
}

/// The installed logs and traces; [`Telemetry::shutdown`] sends the last spans before exit.
pub struct Telemetry {
    tracer: Option<traces::Tracer>,
}

impl Telemetry {
    /// Exports every finished span now (tests, and before exit).
    pub fn flush(&self) {
        if let Some(tracer) = &self.tracer {
            tracer.flush();
        }
    }

    /// Flushes and stops the exporter. Call it off the async runtime's workers (it blocks).
    pub fn shutdown(self) {
        if let Some(tracer) = self.tracer {
            tracer.shutdown();
        }
    }
}

/// Renames `span` in traces once its name is known (a request's route is known only after
/// routing, inside the span that began with the request).
pub fn rename(span: &tracing::Span, name: String) {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    span.context().span().update_name(name);
}

/// Installs logging to stderr and, when `traces.endpoint` is set, the OTLP trace exporter.
pub fn init(logs: &LogSettings, traces: &TracesSettings) -> Result<Telemetry, String> {
    let json = match logs.format.as_str() {
        "json" => true,
        "text" => false,
        _ => !std::io::stderr().is_terminal(),
    };
    init_with_writer(logs, traces, json, std::io::stderr)
}

/// As [`init`], writing log lines to `writer` (tests read them back).
pub fn init_with_writer<W>(
    logs: &LogSettings,
    traces: &TracesSettings,
    json: bool,
    writer: W,
) -> Result<Telemetry, String>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&logs.level))
        .map_err(|e| format!("log.level `{}` is not a valid filter: {e}", logs.level))?;
    // The span list, not only the current span: a line written in a nested span (a gRPC call
    // inside a request) still shows the request's correlation id.
    let log_lines = match json {
        true => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(false)
            .with_span_list(true)
            .with_writer(writer)
            .with_filter(filter)
            .boxed(),
        false => tracing_subscriber::fmt::layer().with_writer(writer).with_filter(filter).boxed(),
    };
    let tracer = traces.endpoint.as_ref().map(|endpoint| traces::Tracer::start(endpoint, traces)).transpose()?;
    // Spans are traced at info and above whatever the log level, so that quieter logs do not
    // break traces.
    let span_layer = tracer.as_ref().map(|t| t.layer().with_filter(LevelFilter::INFO).boxed());
    Registry::default()
        .with(log_lines)
        .with(span_layer)
        .with(module_load::ModuleLoad.with_filter(module_load::only_module_spans()))
        .try_init()
        .map_err(|e| format!("logging is already set up: {e}"))?;
    Ok(Telemetry { tracer })
}
