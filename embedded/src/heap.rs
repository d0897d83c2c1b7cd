//! The global allocator: embedded-alloc's linked-list heap over a static block, with the peak
//! in use recorded (the figure `BENCHMARKS.md` reports).

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicUsize, Ordering};

use embedded_alloc::LlffHeap;

/// What the firmware gives the heap, of the part's 128 KB of RAM; the rest is the stack and
/// static data.
pub const HEAP_BYTES: usize = 96 * 1024;

pub struct PeakHeap {
    heap: LlffHeap,
    peak: AtomicUsize,
}

impl PeakHeap {
    pub const fn empty() -> Self {
        PeakHeap {
            heap: LlffHeap::empty(),
            peak: AtomicUsize::new(0),
        }
    }

    /// Hand the heap its memory; call once, before the first allocation.
    pub fn init(&self) {
        static mut MEMORY: [u8; HEAP_BYTES] = [0; HEAP_BYTES];
        // SAFETY: called once at start-up, so MEMORY is handed over exactly once and nothing
        // else refers to it.
        unsafe {
            self.heap
                .init(core::ptr::addr_of_mut!(MEMORY) as usize, HEAP_BYTES)
        }
    }

    pub fn used(&self) -> usize {
        self.heap.used()
    }

    /// The most the heap has held at once since start-up (or the last `reset_peak`).
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    pub fn reset_peak(&self) {
        self.peak.store(self.used(), Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded to LlffHeap, itself a GlobalAlloc; only a counter is added.
unsafe impl GlobalAlloc for PeakHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { self.heap.alloc(layout) };
        self.peak.fetch_max(self.heap.used(), Ordering::Relaxed);
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { self.heap.dealloc(ptr, layout) }
    }
}
