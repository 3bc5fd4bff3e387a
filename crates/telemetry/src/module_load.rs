//! How much of the process each module uses, for the extraction report: calls into a module and
//! the CPU time spent in it.
//!
//! Every port method runs in a span with a `module` field (`#[tracing::instrument(.., fields(module
//! = "catalog"))]`), and so do event handlers. This layer counts a call when a module span starts
//! under a span of another module (or none), and measures the thread's CPU time while a module's
//! span is the innermost module span entered: an async span is entered for each poll, on the
//! thread that polls it, so the time between enter and exit is that module's own work. Time in a
//! module called from another is charged to the callee only.

use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

pub const CALLS: &str = "comptoir_module_calls_total";
pub const CPU: &str = "comptoir_module_cpu_nanoseconds_total";

/// The module a span belongs to, kept in its extensions.
struct InModule(&'static str);

/// A module entered on this thread and the thread's CPU clock when it last started counting.
struct Frame {
    module: &'static str,
    since: u64,
}

thread_local! {
    static ENTERED: RefCell<Vec<Frame>> = const { RefCell::new(Vec::new()) };
}

pub struct ModuleLoad;

/// The layer's filter: module spans only. Without it the layer would be interested in every span
/// and event, which turns on every `debug!` and `trace!` callsite of every crate (sqlx formats
/// each statement, hyper traces each frame) only for the other layers to drop them: measured,
/// 0.15 to 0.35 ms more per storefront page.
pub fn only_module_spans() -> tracing_subscriber::filter::FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool> {
    tracing_subscriber::filter::filter_fn(|meta| meta.is_span() && meta.fields().field("module").is_some())
}

impl<S> Layer<S> for ModuleLoad
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut visitor = ModuleField(None);
        attrs.record(&mut visitor);
        let Some(module) = visitor.0 else { return };
        let Some(span) = ctx.span(id) else { return };
        let caller =
            span.parent().and_then(|parent| parent.scope().find_map(|s| s.extensions().get::<InModule>().map(|m| m.0)));
        if caller != Some(module) {
            metrics::counter!(CALLS, "module" => module).increment(1);
        }
        span.extensions_mut().insert(InModule(module));
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(module) = module_of(id, &ctx) else { return };
        let now = thread_cpu_nanos();
        ENTERED.with(|entered| {
            let mut entered = entered.borrow_mut();
            if let Some(outer) = entered.last() {
                charge(outer.module, now.saturating_sub(outer.since));
            }
            entered.push(Frame { module, since: now });
        });
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        if module_of(id, &ctx).is_none() {
            return;
        }
        let now = thread_cpu_nanos();
        ENTERED.with(|entered| {
            let mut entered = entered.borrow_mut();
            if let Some(inner) = entered.pop() {
                charge(inner.module, now.saturating_sub(inner.since));
            }
            if let Some(outer) = entered.last_mut() {
                outer.since = now;
            }
        });
    }
}

fn module_of<S>(id: &Id, ctx: &Context<'_, S>) -> Option<&'static str>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    ctx.span(id)?.extensions().get::<InModule>().map(|m| m.0)
}

fn charge(module: &'static str, nanos: u64) {
    if nanos > 0 {
        metrics::counter!(CPU, "module" => module).increment(nanos);
    }
}

fn thread_cpu_nanos() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    (t.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(t.tv_nsec as u64)
}

struct ModuleField(Option<&'static str>);

impl Visit for ModuleField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "module" {
            self.0 = Some(intern(value));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "module" {
            self.0 = Some(intern(&format!("{value:?}").replace('"', "")));
        }
    }
}

/// Module names live as long as the process; there are a dozen of them.
fn intern(name: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    match names.get(name) {
        Some(known) => known,
        None => {
            let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
            names.insert(leaked);
            leaked
        }
    }
}

#[cfg(test)]
mod tests {
    use tracing::Instrument;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// Spends `millis` of this thread's CPU time, however busy the machine.
    fn burn(millis: u64) {
        let until = thread_cpu_nanos() + millis * 1_000_000;
        while thread_cpu_nanos() < until {
            std::hint::black_box(0u64.wrapping_add(1));
        }
    }

    #[test]
    fn calls_and_cpu_time_are_charged_to_the_innermost_module() {
        let recorder = metrics_util::debugging::DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let subscriber = tracing_subscriber::registry().with(ModuleLoad.with_filter(only_module_spans()));
        metrics::with_local_recorder(&recorder, || {
            tracing::subscriber::with_default(subscriber, || {
                let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
                runtime.block_on(
                    async {
                        burn(30);
                        async {
                            burn(60);
                            // The same module again: not a new call.
                            async { burn(1) }
                                .instrument(tracing::info_span!("catalog.inner", module = "catalog"))
                                .await;
                        }
                        .instrument(tracing::info_span!("catalog.get", module = "catalog"))
                        .await;
                        burn(30);
                    }
                    .instrument(tracing::info_span!("ordering.checkout", module = "ordering")),
                );
            });
        });
        let mut values = std::collections::HashMap::new();
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let module = key.key().labels().find(|l| l.key() == "module").unwrap().value().to_string();
            if let metrics_util::debugging::DebugValue::Counter(n) = value {
                values.insert((key.key().name().to_string(), module), n);
            }
        }
        assert_eq!(values[&(CALLS.to_string(), "ordering".to_string())], 1);
        assert_eq!(values[&(CALLS.to_string(), "catalog".to_string())], 1);
        let cpu = |m: &str| values[&(CPU.to_string(), m.to_string())] as f64 / 1e6;
        // 61 ms in catalog, 60 ms in ordering around it, plus the clock readings.
        assert!((61.0..71.0).contains(&cpu("catalog")), "catalog {} ms", cpu("catalog"));
        assert!((60.0..70.0).contains(&cpu("ordering")), "ordering {} ms", cpu("ordering"));
    }
}
