use std::time::Duration;

/// How often and when a failed handling is tried again before the event is dead-lettered.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// The wait before each retry; the design's default is 1 s, 5 s, 30 s.
    pub delays: Vec<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { delays: vec![Duration::from_secs(1), Duration::from_secs(5), Duration::from_secs(30)] }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1`, or `None` when attempts are exhausted.
    pub fn delay_after(&self, attempt: u32) -> Option<Duration> {
        self.delays.get(attempt as usize - 1).copied()
    }

    /// Attempts in all: the first delivery plus one per delay.
    pub fn max_attempts(&self) -> u32 {
        self.delays.len() as u32 + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_is_one_five_thirty_seconds() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay_after(1), Some(Duration::from_secs(1)));
        assert_eq!(p.delay_after(3), Some(Duration::from_secs(30)));
        assert_eq!(p.delay_after(4), None);
        assert_eq!(p.max_attempts(), 4);
    }
}
