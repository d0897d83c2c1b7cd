//! Time. With `std`, the system clock (`web_time`, which maps to `Date.now()` on wasm, where
//! `std::time` would panic). Without it there is no clock to read: the firmware gives one with
//! `set_clock` (an RTC, or time learnt from the network); until it does, the time is 0, so
//! nothing expires and created messages carry no meaningful `created_time`.

#[cfg(feature = "std")]
pub(crate) use web_time::Instant;

/// Seconds since the Unix epoch (0 if the clock is before 1970 or, without `std`, not set).
#[cfg(feature = "std")]
pub fn now_epoch_seconds() -> u64 {
    use web_time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(not(feature = "std"))]
static CLOCK: crate::sync::OnceLock<fn() -> u64> = crate::sync::OnceLock::new();

/// Seconds since the Unix epoch, from the clock given to [`set_clock`] (0 until then).
#[cfg(not(feature = "std"))]
pub fn now_epoch_seconds() -> u64 {
    CLOCK.get().map_or(0, |clock| clock())
}

/// Give the core its wall clock, in seconds since the Unix epoch. Only the first call counts.
#[cfg(not(feature = "std"))]
pub fn set_clock(clock: fn() -> u64) {
    CLOCK.get_or_init(|| clock);
}

/// The cache's expiry clock without `std`: the wall clock's seconds (the only clock there is).
#[cfg(not(feature = "std"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Instant(u64);

#[cfg(not(feature = "std"))]
impl Instant {
    pub(crate) fn now() -> Self {
        Instant(now_epoch_seconds())
    }
}

#[cfg(not(feature = "std"))]
impl core::ops::Add<core::time::Duration> for Instant {
    type Output = Instant;
    fn add(self, ttl: core::time::Duration) -> Instant {
        Instant(self.0.saturating_add(ttl.as_secs()))
    }
}
