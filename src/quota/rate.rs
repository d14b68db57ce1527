//! Kafka's sampled rate (the `Rate` over a `SampledTotal`), as client quotas measure
//! usage, and the throttle time that brings a rate back to its bound. Pure: time is
//! passed in, in milliseconds.
//!
//! A rate keeps up to `samples` samples of `window_ms` each. A sample starts at the
//! first value recorded after the previous one completed, so idle time leaves no
//! samples behind; a sample older than `samples × window_ms` is obsolete and
//! forgotten. The rate is the sum of the samples over the time since the oldest one
//! began, counted as at least `samples − 1` full windows: a new client is not
//! measured over a few milliseconds (which would make any first request look huge),
//! which is also why it may send `bound × (samples − 1) × window` at once.

/// `quota.window.num` and `quota.window.size.seconds`, in the units used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowConfig {
    pub samples: usize,
    pub window_ms: i64,
}

impl WindowConfig {
    /// Kafka's defaults: 11 samples of one second.
    pub const DEFAULT: WindowConfig = WindowConfig { samples: 11, window_ms: 1_000 };

    /// The most a client can use at once without a guaranteed throttle (Kafka caps a
    /// consumer's fetch size at this): `bound × (samples − 1) × window`.
    pub fn max_value_in_window(&self, bound: f64) -> f64 {
        bound * (self.samples.saturating_sub(1)) as f64 * self.window_ms as f64 / 1_000.0
    }
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    start_ms: i64,
    value: f64,
}

/// One client's usage of one quota type.
#[derive(Debug, Clone, Default)]
pub struct SampledRate {
    samples: Vec<Sample>,
    /// Index of the sample being filled.
    current: usize,
    /// When a value was last recorded: a rate idle for a whole span is forgettable.
    last_record_ms: i64,
}

impl SampledRate {
    /// Adds `value` (bytes, or percent-seconds of a thread) at `now_ms`.
    pub fn record(&mut self, cfg: WindowConfig, value: f64, now_ms: i64) {
        debug_assert!(cfg.samples >= 1 && cfg.window_ms >= 1);
        if self.samples.is_empty() {
            self.samples.push(Sample { start_ms: now_ms, value: 0.0 });
            self.current = 0;
        }
        if now_ms - self.samples[self.current].start_ms >= cfg.window_ms {
            self.current = (self.current + 1) % cfg.samples;
            let fresh = Sample { start_ms: now_ms, value: 0.0 };
            match self.samples.get_mut(self.current) {
                Some(s) => *s = fresh,
                None => self.samples.push(fresh),
            }
        }
        self.samples[self.current].value += value;
        self.last_record_ms = now_ms;
        debug_assert!(self.samples.len() <= cfg.samples);
    }

    /// Resets samples that are `samples × window` old or older (they start again now).
    fn purge_obsolete(&mut self, cfg: WindowConfig, now_ms: i64) {
        let expire_ms = cfg.samples as i64 * cfg.window_ms;
        for s in &mut self.samples {
            if now_ms - s.start_ms >= expire_ms {
                *s = Sample { start_ms: now_ms, value: 0.0 };
            }
        }
    }

    /// The span the rate is measured over: since the oldest sample began, and at
    /// least `samples − 1` full windows plus the part of the current one.
    pub fn window_size_ms(&mut self, cfg: WindowConfig, now_ms: i64) -> i64 {
        self.purge_obsolete(cfg, now_ms);
        let oldest = self.samples.iter().map(|s| s.start_ms).min().unwrap_or(now_ms);
        let mut elapsed_ms = now_ms - oldest;
        let full_windows = elapsed_ms / cfg.window_ms;
        let min_full_windows = cfg.samples as i64 - 1;
        if full_windows < min_full_windows {
            elapsed_ms += (min_full_windows - full_windows) * cfg.window_ms;
        }
        elapsed_ms
    }

    /// The rate per second at `now_ms`.
    pub fn measure(&mut self, cfg: WindowConfig, now_ms: i64) -> f64 {
        let window_ms = self.window_size_ms(cfg, now_ms);
        let total: f64 = self.samples.iter().map(|s| s.value).sum();
        total / (window_ms as f64 / 1_000.0)
    }

    /// Records `value` and returns how long the client must wait for the rate to come
    /// back to `bound` (0 when it is within). Kafka's formula: with observed rate O
    /// over window W and bound B, waiting X gives O·W / (W + X) = B, so
    /// X = (O − B) / B · W.
    pub fn record_and_throttle_ms(&mut self, cfg: WindowConfig, value: f64, bound: f64, now_ms: i64) -> i64 {
        self.record(cfg, value, now_ms);
        let observed = self.measure(cfg, now_ms);
        if observed <= bound {
            return 0;
        }
        throttle_time_ms(observed, bound, self.window_size_ms(cfg, now_ms))
    }

    /// Whether nothing was recorded for a whole span: such a rate measures what a
    /// fresh one would, so it can be dropped.
    pub fn is_idle(&self, cfg: WindowConfig, now_ms: i64) -> bool {
        now_ms - self.last_record_ms >= cfg.samples as i64 * cfg.window_ms
    }
}

/// (observed − bound) / bound × window, rounded to the nearest millisecond.
pub fn throttle_time_ms(observed: f64, bound: f64, window_ms: i64) -> i64 {
    debug_assert!(bound > 0.0);
    let ms = (observed - bound) / bound * window_ms as f64;
    if ms.is_finite() {
        ms.round().max(0.0).min(i32::MAX as f64) as i64
    } else {
        i32::MAX as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: WindowConfig = WindowConfig::DEFAULT;

    #[test]
    fn a_new_rate_is_measured_over_samples_minus_one_windows() {
        let mut r = SampledRate::default();
        r.record(CFG, 1_000.0, 0);
        assert_eq!(r.window_size_ms(CFG, 0), 10_000);
        assert_eq!(r.measure(CFG, 0), 100.0);
        // 300 ms in: still 10 full windows assumed, plus the elapsed part
        assert_eq!(r.window_size_ms(CFG, 300), 10_300);
        // after 10 s of samples the real span counts
        for t in 1..=12 {
            r.record(CFG, 1_000.0, t * 1_000);
        }
        assert_eq!(r.window_size_ms(CFG, 12_500), 12_500 - 2_000, "samples of t=2..12 remain");
        assert_eq!(r.measure(CFG, 12_500), 11_000.0 / 10.5);
    }

    #[test]
    fn samples_roll_and_obsolete_ones_are_forgotten() {
        let mut r = SampledRate::default();
        r.record(CFG, 5.0, 0);
        r.record(CFG, 5.0, 999);
        assert_eq!(r.samples.len(), 1, "same window");
        r.record(CFG, 5.0, 1_000);
        assert_eq!(r.samples.len(), 2);
        for t in 2..40 {
            r.record(CFG, 1.0, t * 1_000);
        }
        assert_eq!(r.samples.len(), 11, "bounded by quota.window.num");
        // idle for a whole span: every sample is obsolete
        assert_eq!(r.measure(CFG, 39_000 + 11_000), 0.0);
        assert!(r.is_idle(CFG, 39_000 + 11_000));
        assert!(!r.is_idle(CFG, 39_000 + 10_999));
    }

    #[test]
    fn the_throttle_time_brings_the_rate_back_to_the_bound() {
        // 10 s window, 2000 B recorded against a 100 B/s bound: O = 200 B/s, so
        // X = (200 − 100) / 100 × 10 s = 10 s, and 2000 B over 20 s is 100 B/s
        let mut r = SampledRate::default();
        assert_eq!(r.record_and_throttle_ms(CFG, 1_000.0, 100.0, 0), 0, "exactly at the bound is within");
        assert_eq!(r.record_and_throttle_ms(CFG, 1_000.0, 100.0, 0), 10_000);
        assert_eq!(throttle_time_ms(150.0, 100.0, 10_000), 5_000);
        assert_eq!(throttle_time_ms(100.0004, 100.0, 1_000), 0, "rounded");
        assert_eq!(throttle_time_ms(f64::INFINITY, 1.0, 1_000), i32::MAX as i64);
    }

    #[test]
    fn unrecording_takes_a_value_back() {
        let mut r = SampledRate::default();
        r.record(CFG, 500.0, 0);
        r.record(CFG, 2_000.0, 0);
        r.record(CFG, -2_000.0, 0);
        assert_eq!(r.measure(CFG, 0), 50.0);
    }

    #[test]
    fn max_value_in_window() {
        assert_eq!(CFG.max_value_in_window(1_000.0), 10_000.0);
        let small = WindowConfig { samples: 2, window_ms: 500 };
        assert_eq!(small.max_value_in_window(1_000.0), 500.0);
    }

    /// A client that sends as fast as it is let through, waiting out each throttle,
    /// averages the bound over a long run (Kafka's semantics allow an initial burst of
    /// `bound × (samples − 1) × window` and some unevenness; the long-run figure is
    /// what the compat tests check with real clients).
    #[test]
    fn a_flat_out_client_averages_near_the_bound() {
        let bound = 512.0 * 1024.0;
        let request_bytes = 64.0 * 1024.0;
        let mut r = SampledRate::default();
        let (mut now, mut sent_after_warmup) = (0i64, 0.0);
        let (from, to) = (30_000, 120_000);
        while now < to {
            let t = r.record_and_throttle_ms(CFG, request_bytes, bound, now);
            if now >= from {
                sent_after_warmup += request_bytes;
            }
            now += t + 5;
        }
        let achieved = sent_after_warmup / ((to - from) as f64 / 1_000.0);
        let ratio = achieved / bound;
        assert!((0.85..=1.15).contains(&ratio), "achieved {achieved:.0} B/s = {ratio:.3} × bound");
    }
}
