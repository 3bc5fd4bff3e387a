//! The OTLP trace exporter: finished spans are batched on the SDK's own thread and sent over gRPC.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData, SpanExporter,
};
use tracing_subscriber::registry::LookupSpan;

/// Where and how traces are sent.
#[derive(Debug, Clone)]
pub struct TracesSettings {
    /// The OTLP/gRPC collector (`http://otel-collector:4317`); no traces when `None`.
    pub endpoint: Option<String>,
    /// `service.name` of this process (`comptoir-gateway`, `comptoir-catalog`, ...).
    pub service_name: String,
    /// Share of new traces kept, 0.0 to 1.0; a trace started upstream keeps its caller's choice.
    pub sample_ratio: f64,
    /// How long finished spans wait to be sent together.
    pub batch_delay: Duration,
}

impl Default for TracesSettings {
    fn default() -> Self {
        TracesSettings {
            endpoint: None,
            service_name: "comptoir".into(),
            sample_ratio: 1.0,
            batch_delay: Duration::from_secs(2),
        }
    }
}

pub(crate) struct Tracer {
    provider: SdkTracerProvider,
}

impl Tracer {
    pub(crate) fn start(endpoint: &str, settings: &TracesSettings) -> Result<Tracer, String> {
        if !(0.0..=1.0).contains(&settings.sample_ratio) {
            return Err(format!("telemetry.sample_ratio {} must be between 0 and 1", settings.sample_ratio));
        }
        let exporter = OwnRuntime::exporter(endpoint)?;
        let batches = BatchSpanProcessor::builder(exporter)
            .with_batch_config(BatchConfigBuilder::default().with_scheduled_delay(settings.batch_delay).build())
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(batches)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(settings.sample_ratio))))
            .with_resource(Resource::builder().with_service_name(settings.service_name.clone()).build())
            .build();
        opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
        Ok(Tracer { provider })
    }

    pub(crate) fn layer<S>(&self) -> tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>
    where
        S: tracing::Subscriber + for<'span> LookupSpan<'span>,
    {
        tracing_opentelemetry::layer().with_tracer(self.provider.tracer("comptoir"))
    }

    pub(crate) fn flush(&self) {
        if let Err(e) = self.provider.force_flush() {
            eprintln!("traces could not be flushed: {e}");
        }
    }

    pub(crate) fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("the trace exporter did not shut down cleanly: {e}");
        }
    }
}

/// The OTLP/gRPC exporter with a small Tokio runtime of its own. The SDK's batch processor
/// exports from a plain thread, where tonic finds no runtime ("there is no reactor running"):
/// the exporter's channel lives on this runtime and every export runs on it.
#[derive(Debug)]
struct OwnRuntime {
    exporter: opentelemetry_otlp::SpanExporter,
    runtime: tokio::runtime::Runtime,
}

impl OwnRuntime {
    fn exporter(endpoint: &str) -> Result<OwnRuntime, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("otlp-export")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the trace exporter's runtime: {e}"))?;
        let exporter = {
            let _inside = runtime.enter();
            opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .with_timeout(Duration::from_secs(5))
                .build()
                .map_err(|e| format!("telemetry.otlp_endpoint `{endpoint}`: {e}"))?
        };
        Ok(OwnRuntime { exporter, runtime })
    }
}

impl SpanExporter for OwnRuntime {
    fn export(&self, batch: Vec<SpanData>) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let result = self.runtime.block_on(self.exporter.export(batch));
        std::future::ready(result)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.exporter.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.exporter.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.exporter.set_resource(resource);
    }
}
