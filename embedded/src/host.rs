//! The host, through semihosting: files in QEMU's working folder (the test's exchange with the
//! sensor), the host's clock, the console and the exit status. ARM and RISC-V semihosting share
//! the operation numbers, so one module serves both.

use alloc::string::String;
use alloc::vec::Vec;

#[cfg(target_arch = "arm")]
use cortex_m_semihosting as sh;
#[cfg(target_arch = "riscv32")]
use riscv_semihosting as sh;

const MODE_READ_BINARY: usize = 1;
const MODE_WRITE_BINARY: usize = 5;

fn c_path(name: &str) -> Vec<u8> {
    let mut path = Vec::with_capacity(name.len() + 1);
    path.extend_from_slice(name.as_bytes());
    path.push(0);
    path
}

fn open(name: &str, mode: usize) -> Option<usize> {
    let path = c_path(name);
    // SAFETY: the path is NUL-terminated and outlives the call; `len` excludes the NUL.
    let handle = unsafe { sh::syscall!(OPEN, path.as_ptr(), mode, name.len()) };
    (handle != usize::MAX).then_some(handle)
}

fn close(handle: usize) {
    // SAFETY: a handle OPEN returned.
    unsafe { sh::syscall!(CLOSE, handle) };
}

/// The whole of a host file, or None if it does not exist (yet).
pub fn read(name: &str) -> Option<Vec<u8>> {
    let handle = open(name, MODE_READ_BINARY)?;
    // SAFETY: a handle OPEN returned.
    let len = unsafe { sh::syscall!(FLEN, handle) };
    let mut data = alloc::vec![0u8; len];
    // SAFETY: `data` has `len` writable bytes; READ returns how many it did not fill.
    let missing = unsafe { sh::syscall!(READ, handle, data.as_mut_ptr(), len) };
    close(handle);
    (missing == 0).then_some(data)
}

/// Write a host file whole: to `name.part`, then renamed, so the host never reads half of it.
pub fn write(name: &str, data: &[u8]) -> Result<(), &'static str> {
    let mut part = String::from(name);
    part.push_str(".part");
    let handle = open(&part, MODE_WRITE_BINARY).ok_or("cannot create a host file")?;
    // SAFETY: `data` is readable for its length; WRITE returns how many bytes it did not write.
    let missing = unsafe { sh::syscall!(WRITE, handle, data.as_ptr(), data.len()) };
    close(handle);
    if missing != 0 {
        return Err("short write to a host file");
    }
    let (from, to) = (c_path(&part), c_path(name));
    // SAFETY: both paths are NUL-terminated and outlive the call.
    let failed =
        unsafe { sh::syscall!(RENAME, from.as_ptr(), part.len(), to.as_ptr(), name.len()) };
    if failed != 0 {
        return Err("cannot rename a host file");
    }
    Ok(())
}

/// Wait for the host to write `name`, at most `seconds`.
pub fn wait_for(name: &str, seconds: u64) -> Option<Vec<u8>> {
    let deadline = now() + seconds;
    loop {
        if let Some(data) = read(name) {
            return Some(data);
        }
        if now() > deadline {
            return None;
        }
    }
}

/// The host's wall clock, in seconds since the Unix epoch.
pub fn now() -> u64 {
    // SAFETY: TIME takes no argument.
    unsafe { sh::syscall!(TIME) as u64 }
}

pub fn print(line: &str) {
    sh::hprintln!("{}", line);
}

pub fn exit(success: bool) -> ! {
    sh::debug::exit(if success {
        sh::debug::EXIT_SUCCESS
    } else {
        sh::debug::EXIT_FAILURE
    });
    #[allow(clippy::empty_loop)]
    loop {}
}
