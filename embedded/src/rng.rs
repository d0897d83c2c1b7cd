//! The random source the core asks getrandom for. QEMU's board has no random-number generator,
//! so the host hands the firmware a 32-byte seed (`seed.bin`) and a ChaCha20 generator expands
//! it; on a real part this is where its TRNG goes.

use core::cell::RefCell;

use critical_section::Mutex;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

static RNG: Mutex<RefCell<Option<ChaCha20Rng>>> = Mutex::new(RefCell::new(None));

pub fn seed(seed: [u8; 32]) {
    critical_section::with(|cs| *RNG.borrow_ref_mut(cs) = Some(ChaCha20Rng::from_seed(seed)));
}

fn fill(buf: &mut [u8]) -> Result<(), getrandom::Error> {
    critical_section::with(|cs| match RNG.borrow_ref_mut(cs).as_mut() {
        Some(rng) => {
            rng.fill_bytes(buf);
            Ok(())
        }
        None => Err(getrandom::Error::UNSUPPORTED),
    })
}

getrandom::register_custom_getrandom!(fill);
