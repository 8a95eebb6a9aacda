//! RD Station's 120 requests per minute, per token, as a sliding window: a
//! request is refused while `requests` requests with the same token were
//! admitted within the last `window`. Refused requests do not count, so a
//! client that waits `Retry-After` seconds gets in.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::configuration::RateLimit;

pub(crate) struct RateLimiter {
    limit: RateLimit,
    admitted: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> RateLimiter {
        RateLimiter {
            limit,
            admitted: Mutex::default(),
        }
    }

    /// Admits a request with `token`, or tells how long until one would be
    /// admitted, in whole seconds (at least 1).
    pub fn check(&self, token: &str) -> Result<(), u64> {
        let now = Instant::now();
        let mut admitted = self.admitted.lock().unwrap_or_else(|e| e.into_inner());
        let log = admitted.entry(token.to_owned()).or_default();
        while log
            .front()
            .is_some_and(|&t| now.duration_since(t) >= self.limit.window)
        {
            log.pop_front();
        }
        if log.len() < self.limit.requests as usize {
            log.push_back(now);
            return Ok(());
        }
        let wait = log.front().map_or(Duration::ZERO, |&oldest| {
            crate::clock::deadline(oldest, self.limit.window).saturating_duration_since(now)
        });
        Err((wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_after_the_limit_is_refused_per_token() {
        let limiter = RateLimiter::new(RateLimit {
            requests: 3,
            window: Duration::from_secs(60),
        });
        for _ in 0..3 {
            limiter.check("a").unwrap();
        }
        let wait = limiter.check("a").unwrap_err();
        assert!((59..=60).contains(&wait), "{wait}");
        limiter.check("b").unwrap();
    }

    #[test]
    fn the_window_slides() {
        let limiter = RateLimiter::new(RateLimit {
            requests: 1,
            window: Duration::from_millis(50),
        });
        limiter.check("a").unwrap();
        assert_eq!(limiter.check("a"), Err(1));
        std::thread::sleep(Duration::from_millis(60));
        limiter.check("a").unwrap();
    }
}
