//! Counting work on the emulated CPU. QEMU runs the firmware with `-icount shift=0` (one
//! nanosecond of virtual time per instruction), and the Cortex-M SysTick counts the board's 25 MHz
//! CPU clock in that virtual time, so one tick is 40 instructions. The count is QEMU's
//! instructions, not a real M4's cycles (no pipeline, flash wait states or multiply timings).

#[cfg(target_arch = "arm")]
mod imp {
    use core::sync::atomic::{AtomicU32, Ordering};

    use cortex_m::peripheral::syst::SystClkSource;
    use cortex_m::peripheral::SYST;

    const RELOAD: u32 = 0x00ff_ffff;
    static WRAPS: AtomicU32 = AtomicU32::new(0);

    #[cortex_m_rt::exception]
    fn SysTick() {
        WRAPS.fetch_add(1, Ordering::Relaxed);
    }

    pub fn start() {
        if let Some(mut p) = cortex_m::Peripherals::take() {
            p.SYST.set_clock_source(SystClkSource::Core);
            p.SYST.set_reload(RELOAD);
            p.SYST.clear_current();
            p.SYST.enable_interrupt();
            p.SYST.enable_counter();
        }
    }

    /// Ticks since `start` (the counter counts down; each wrap is an interrupt).
    pub fn now() -> Option<u64> {
        loop {
            let wraps = WRAPS.load(Ordering::Relaxed);
            let current = SYST::get_current();
            if WRAPS.load(Ordering::Relaxed) == wraps {
                return Some(
                    u64::from(wraps) * u64::from(RELOAD + 1) + u64::from(RELOAD - current),
                );
            }
        }
    }
}

#[cfg(not(target_arch = "arm"))]
mod imp {
    pub fn start() {}
    pub fn now() -> Option<u64> {
        None
    }
}

pub use imp::start;

/// QEMU instructions per SysTick tick at the mps2-an386's 25 MHz under `-icount shift=0`.
pub const INSTRUCTIONS_PER_TICK: u64 = 40;

/// Run `f`, returning its result and the instructions it took (None where nothing counts).
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, Option<u64>) {
    let start = imp::now();
    let value = f();
    let end = imp::now();
    let spent = start.zip(end).map(|(s, e)| (e - s) * INSTRUCTIONS_PER_TICK);
    (value, spent)
}
