//! The `#[panic_handler]` of the no_std C static library (feature `ffi-panic-handler`).
//!
//! A `no_std` staticlib must define one, and the rlib a Rust firmware links must never do so
//! (the firmware has its own), so it is compiled only with this feature, without `std` (which
//! brings its own) and outside unit tests. Build the firmware's C library with:
//!
//! ```text
//! cargo rustc --release --lib --no-default-features --features ffi,ffi-panic-handler \
//!     --crate-type staticlib --target thumbv7em-none-eabihf
//! ```
//!
//! wsgate does not panic on any input (see `tests/no_panic.rs`); should a bug make it panic
//! anyway, the CPU spins here, where a debugger or the watchdog finds it. No message is
//! formatted, so none of `core::fmt`'s panic machinery is pulled in by this handler.

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
