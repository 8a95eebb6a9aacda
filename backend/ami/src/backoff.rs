//! Reconnection delays: exponential between a floor and a ceiling, with jitter.

use std::time::Duration;

/// Doubles the delay after each failure, from `min` up to `max`; each delay handed out
/// is drawn uniformly from the upper half of the current step, so that many clients
/// restarted together do not reconnect in lockstep.
#[derive(Debug)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Backoff {
        let max = max.max(min);
        Backoff {
            min,
            max,
            current: min,
        }
    }

    /// The delay before the next attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let step = self.current;
        self.current = (self.current * 2).min(self.max);
        step / 2 + (step / 2).mul_f64(rand::random::<f64>())
    }

    /// Back to `min` after a successful login.
    pub(crate) fn reset(&mut self) {
        self.current = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_ceiling_with_jitter_and_resets() {
        let min = Duration::from_millis(100);
        let max = Duration::from_millis(1000);
        let mut backoff = Backoff::new(min, max);
        let mut steps = Vec::new();
        for _ in 0..8 {
            steps.push(backoff.next_delay());
        }
        let ceilings = [100, 200, 400, 800, 1000, 1000, 1000, 1000];
        for (delay, ceiling) in steps.iter().zip(ceilings) {
            let ceiling = Duration::from_millis(ceiling);
            assert!(*delay >= ceiling / 2 && *delay <= ceiling, "{delay:?}");
        }
        backoff.reset();
        assert!(backoff.next_delay() <= min);
    }
}
