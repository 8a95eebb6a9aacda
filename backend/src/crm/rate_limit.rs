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

    /// Counts one more request if it fits now and returns its slot;
    /// otherwise how long until one would. Deliveries never wait here:
    /// a tenant at its limit must not hold the worker's slots that other
    /// tenants' notes need.
    pub fn try_acquire(&self) -> Result<Instant, Duration> {
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
            Some(until) if until > now => Err(until - now),
            _ if state.sent.len() < self.requests => {
                state.sent.push_back(now);
                Ok(now)
            }
            _ => {
                let oldest = state.sent.front().copied().unwrap_or(now);
                Err((oldest + self.window).saturating_duration_since(now))
            }
        }
    }

    /// Moves `slot` to now, when its request really leaves (a slot taken
    /// ahead, before a database write, must count from the sending, or RD
    /// Station, counting arrivals, could see one request too many in its
    /// window). Returns the new slot.
    pub fn restamp(&self, slot: Instant) -> Instant {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = state.sent.iter().position(|&t| t == slot) {
            state.sent.remove(at);
        }
        state.sent.push_back(now);
        now
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

    /// Waits for a slot the way a retried delivery would.
    async fn acquire(limiter: &RateLimiter) -> Instant {
        loop {
            match limiter.try_acquire() {
                Ok(slot) => return slot,
                Err(wait) => tokio::time::sleep(wait.max(Duration::from_millis(1))).await,
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn never_more_than_the_limit_in_any_window() {
        let limiter = RateLimiter::new(3, Duration::from_secs(60));
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..7 {
            acquire(&limiter).await;
            times.push(start.elapsed().as_secs());
        }
        assert_eq!(times, [0, 0, 0, 60, 60, 60, 120]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_window_says_how_long_to_wait() {
        let limiter = RateLimiter::new(1, Duration::from_secs(60));
        limiter.try_acquire().unwrap();
        tokio::time::advance(Duration::from_secs(15)).await;
        assert_eq!(limiter.try_acquire(), Err(Duration::from_secs(45)));
    }

    #[tokio::test(start_paused = true)]
    async fn refunded_slots_are_free_again() {
        let limiter = RateLimiter::new(2, Duration::from_secs(60));
        let slot = limiter.try_acquire().unwrap();
        limiter.try_acquire().unwrap();
        limiter.refund(slot);
        limiter.try_acquire().unwrap();
        assert!(limiter.try_acquire().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_taken_ahead_counts_from_its_sending() {
        let limiter = RateLimiter::new(2, Duration::from_secs(60));
        let early = limiter.try_acquire().unwrap();
        tokio::time::advance(Duration::from_secs(10)).await;
        limiter.try_acquire().unwrap();
        tokio::time::advance(Duration::from_secs(5)).await;
        limiter.restamp(early);
        // The other slot (t = 10 s) frees first, then the restamped one (t = 15 s).
        tokio::time::advance(Duration::from_secs(55)).await;
        limiter.try_acquire().unwrap();
        assert_eq!(limiter.try_acquire(), Err(Duration::from_secs(5)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_request() {
        let limiter = RateLimiter::new(100, Duration::from_secs(60));
        let start = Instant::now();
        limiter.try_acquire().unwrap();
        limiter.pause(Duration::from_secs(30));
        limiter.pause(Duration::from_secs(5));
        assert_eq!(limiter.try_acquire(), Err(Duration::from_secs(30)));
        acquire(&limiter).await;
        assert_eq!(start.elapsed().as_secs(), 30);
    }
}
