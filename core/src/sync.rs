//! The two locks the core needs: std's where std is linked, `spin`'s on bare metal (no OS to
//! park a thread on; a sensor's single core never contends for long).

#[cfg(feature = "std")]
use std::sync as imp;

#[cfg(not(feature = "std"))]
use spin as imp;

/// The guard of [`Mutex::lock`].
pub(crate) type MutexGuard<'a, T> = imp::MutexGuard<'a, T>;

/// A mutual-exclusion lock whose `lock` cannot fail.
#[derive(Debug, Default)]
pub(crate) struct Mutex<T>(imp::Mutex<T>);

impl<T> Mutex<T> {
    pub(crate) const fn new(value: T) -> Self {
        Mutex(imp::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        // Every user keeps its data consistent at each step (single map calls), so a lock
        // poisoned by a panicking holder is still safe to use.
        #[cfg(feature = "std")]
        return self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        #[cfg(not(feature = "std"))]
        return self.0.lock();
    }
}

/// A value computed once, on first use.
#[derive(Debug, Default)]
pub(crate) struct OnceLock<T>(imp_once::Cell<T>);

#[cfg(feature = "std")]
mod imp_once {
    pub(super) type Cell<T> = std::sync::OnceLock<T>;
}
#[cfg(not(feature = "std"))]
mod imp_once {
    pub(super) type Cell<T> = spin::Once<T>;
}

impl<T> OnceLock<T> {
    pub(crate) const fn new() -> Self {
        OnceLock(imp_once::Cell::new())
    }

    pub(crate) fn get_or_init(&self, init: impl FnOnce() -> T) -> &T {
        #[cfg(feature = "std")]
        return self.0.get_or_init(init);
        #[cfg(not(feature = "std"))]
        return self.0.call_once(init);
    }

    #[cfg_attr(feature = "std", allow(dead_code))]
    pub(crate) fn get(&self) -> Option<&T> {
        self.0.get()
    }
}
