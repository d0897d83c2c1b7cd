//! The deepest the stack went: at start-up the free stack (from the end of static data up to
//! just below the current stack pointer) is painted with a pattern, and the first word that no
//! longer holds it marks the peak. Cortex-M only (cortex-m-rt's symbols); RISC-V reports nothing.

#[cfg(target_arch = "arm")]
mod imp {
    const PAINT: u32 = 0x5AC3_5AC3;

    extern "C" {
        static mut __ebss: u32;
        static mut _stack_start: u32;
    }

    fn bottom() -> *mut u32 {
        core::ptr::addr_of_mut!(__ebss)
    }

    fn top() -> *mut u32 {
        core::ptr::addr_of_mut!(_stack_start)
    }

    pub fn paint() {
        // Leave what main's caller already uses, plus a margin for this function's frame.
        let limit = (cortex_m::register::msp::read() as usize - 256) as *mut u32;
        let mut word = bottom();
        while word < limit {
            // SAFETY: between the end of static data and below the live stack: memory nothing
            // uses yet, word-aligned by the linker script.
            unsafe { word.write_volatile(PAINT) };
            word = word.wrapping_add(1);
        }
    }

    /// Bytes of stack used at the deepest so far.
    pub fn peak() -> Option<usize> {
        let mut word = bottom();
        // SAFETY: reads within the painted region, which stays mapped RAM.
        while word < top() && unsafe { word.read_volatile() } == PAINT {
            word = word.wrapping_add(1);
        }
        Some(top() as usize - word as usize)
    }

    /// The stack the memory map leaves: from the end of static data (the heap is static) to the
    /// top of RAM.
    pub fn size() -> usize {
        top() as usize - bottom() as usize
    }
}

#[cfg(not(target_arch = "arm"))]
mod imp {
    pub fn paint() {}
    pub fn peak() -> Option<usize> {
        None
    }
    pub fn size() -> usize {
        0
    }
}

pub use imp::{paint, peak, size};
