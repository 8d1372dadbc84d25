//! A `metrics` recorder for benches that run tickforge's code in-process:
//! counters are summed by name (all label sets together) and one chosen
//! histogram is kept exactly in an HdrHistogram (microseconds), so a bench
//! can read precise percentiles instead of Prometheus bucket bounds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use hdrhistogram::Histogram as Hdr;
use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};

/// The probe; install it with [`Probe::install`] before the code under test
/// records anything.
#[derive(Clone)]
pub struct Probe {
    counters: Arc<RwLock<HashMap<String, Arc<AtomicU64>>>>,
    histogram: &'static str,
    samples: Arc<Mutex<Hdr<u64>>>,
}

struct Samples(Arc<Mutex<Hdr<u64>>>);

impl HistogramFn for Samples {
    fn record(&self, seconds: f64) {
        let micros = (seconds * 1e6).max(1.0) as u64;
        if let Ok(mut h) = self.0.lock() {
            h.saturating_record(micros);
        }
    }
}

impl Probe {
    /// Installs a probe keeping the histogram named `histogram` exactly.
    pub fn install(histogram: &'static str) -> anyhow::Result<Probe> {
        let probe = Probe {
            counters: Arc::default(),
            histogram,
            samples: Arc::new(Mutex::new(Hdr::new_with_bounds(1, 60_000_000, 3)?)),
        };
        metrics::set_global_recorder(probe.clone())
            .map_err(|e| anyhow::anyhow!("installing the probe recorder: {e}"))?;
        Ok(probe)
    }

    /// Sum of the counter `name` over all its label sets.
    pub fn counter(&self, name: &str) -> u64 {
        self.counters
            .read()
            .ok()
            .and_then(|c| c.get(name).map(|v| v.load(Ordering::Relaxed)))
            .unwrap_or(0)
    }

    /// A copy of the kept histogram (microseconds).
    pub fn samples(&self) -> Hdr<u64> {
        match self.samples.lock() {
            Ok(h) => h.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

impl Recorder for Probe {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let name = key.name();
        if let Some(c) = self.counters.read().ok().and_then(|c| c.get(name).cloned()) {
            return Counter::from_arc(c);
        }
        match self.counters.write() {
            Ok(mut counters) => {
                Counter::from_arc(counters.entry(name.to_string()).or_default().clone())
            }
            Err(_) => Counter::noop(),
        }
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        if key.name() == self.histogram {
            Histogram::from_arc(Arc::new(Samples(self.samples.clone())))
        } else {
            Histogram::noop()
        }
    }
}
