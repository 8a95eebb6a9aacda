//! RD Station allows 120 requests per minute per token. This limiter keeps
//! each connection under that as a sliding window (never more than
//! `requests` in any `window`), and stops it altogether while RD Station
//! asked to wait (`Retry-After` on a 429).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

pub struct RateLimiter {
    requests: usize,
    window: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// When each of the last `requests` requests left.
    sent: VecDeque<Instant>,
    /// No request before this instant (a 429 said so).
    paused_until: Option<Instant>,
}

impl RateLimiter {
    pub fn new(requests: u32, window: Duration) -> RateLimiter {
        RateLimiter {
            requests: requests.max(1) as usize,
            window,
            state: Mutex::default(),
        }
    }

    /// Waits until one more request fits, and counts it; returns its slot.
    pub async fn acquire(&self) -> Instant {
        loop {
            let wait = {
                let now = Instant::now();
                let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                while state
                    .sent
                    .front()
                    .is_some_and(|&t| now.duration_since(t) >= self.window)
                {
                    state.sent.pop_front();
                }
                match state.paused_until {
                    Some(until) if until > now => until - now,
                    _ if state.sent.len() < self.requests => {
                        state.sent.push_back(now);
                        return now;
                    }
                    _ => {
                        let oldest = state.sent.front().copied().unwrap_or(now);
                        (oldest + self.window).saturating_duration_since(now)
                    }
                }
            };
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
    }

    /// Gives back the slot of a request that never reached RD Station (the
    /// connection was refused or reset), which RD Station did not count
    /// either: an outage does not use up the next minute's requests.
    pub fn refund(&self, slot: Instant) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = state.sent.iter().position(|&t| t == slot) {
            state.sent.remove(at);
        }
    }

    /// No request for `wait` (a 429's `Retry-After`).
    pub fn pause(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.paused_until.is_none_or(|u| u < until) {
            state.paused_until = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn never_more_than_the_limit_in_any_window() {
        let limiter = RateLimiter::new(3, Duration::from_secs(60));
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..7 {
            limiter.acquire().await;
            times.push(start.elapsed().as_secs());
        }
        assert_eq!(times, [0, 0, 0, 60, 60, 60, 120]);
    }

    #[tokio::test(start_paused = true)]
    async fn refunded_slots_are_free_again() {
        let limiter = RateLimiter::new(2, Duration::from_secs(60));
        let start = Instant::now();
        let slot = limiter.acquire().await;
        limiter.acquire().await;
        limiter.refund(slot);
        limiter.acquire().await;
        assert_eq!(start.elapsed().as_secs(), 0);
        limiter.acquire().await;
        assert_eq!(start.elapsed().as_secs(), 60);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_request() {
        let limiter = RateLimiter::new(100, Duration::from_secs(60));
        let start = Instant::now();
        limiter.acquire().await;
        limiter.pause(Duration::from_secs(30));
        limiter.pause(Duration::from_secs(5));
        limiter.acquire().await;
        assert_eq!(start.elapsed().as_secs(), 30);
    }
}
