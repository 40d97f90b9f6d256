//! wsgate's sans-IO core on a Cortex-M4F (`thumbv7em-none-eabihf`: 32-bit `usize`), run
//! under `qemu-system-arm -machine mps2-an386`. The same exact-byte checks as
//! `tests/sans_io.rs` on the host: handshake, dispatch, close, strictness, timers, plus the
//! 64-bit frame lengths that a 32-bit cast would wrap.
//!
//! Each test prints its name and `ok` or `FAILED` over semihosting; the run ends with
//! `N passed, M failed` and exit code 0 when all passed, 1 otherwise (also on a panic or a
//! fault). Run it with `bash .ci/qemu.sh`, or from this directory `cargo run --release`.
#![no_std]
#![no_main]

#[macro_use]
mod check;
mod client;
mod fixture;
mod handshake;
mod messages;
mod strict;
mod timers;

use check::Outcome;
use cortex_m_rt::{ExceptionFrame, entry, exception};
use cortex_m_semihosting::{debug, hprintln};
use panic_semihosting as _;

type Test = (&'static str, fn() -> Outcome);

/// Each test function, named by its path (`handshake::refusal_400`).
macro_rules! tests {
    ($($test:path),* $(,)?) => {
        &[$((stringify!($test), $test as fn() -> Outcome)),*]
    };
}

const TESTS: &[Test] = tests![
    target_is_32_bit,
    size_of_state_types,
    // Handshake
    handshake::exact_101_for_the_rfc_sample_key,
    handshake::firefox_connection_keep_alive_upgrade,
    handshake::one_byte_per_feed,
    handshake::refusal_400,
    handshake::refusal_404,
    handshake::refusal_405,
    handshake::refusal_426,
    handshake::refusal_431,
    handshake::refusal_503_when_full,
    handshake::refusal_408_by_timer,
    // Messages
    messages::echo_reply_exact,
    messages::nestjs_events_one_two_three,
    messages::exception_frames_byte_for_byte,
    messages::drops_are_silent_and_counted,
    messages::request_and_first_frames_in_one_feed,
    messages::message_waits_for_reply_room,
    messages::reply_larger_than_tx_is_an_error,
    messages::broadcast_to_two_clients,
    messages::frame_lengths_both_ways,
    messages::short_frame_that_fits_exactly,
    messages::long_frame_that_fits_exactly,
    // Strictness, control frames, close
    strict::unmasked_frame_is_1002,
    strict::rsv_bits_are_1002,
    strict::reserved_opcodes_are_1002,
    strict::ping_of_126_bytes_is_1002,
    strict::fragmented_control_is_1002,
    strict::continuation_without_start_is_1002,
    strict::new_message_inside_fragmented_is_1002,
    strict::length_2_pow_63_is_1002,
    strict::lengths_over_4_gib_are_1009,
    strict::message_one_byte_over_rx_is_1009,
    strict::invalid_utf8_is_1007,
    strict::close_codes_not_allowed_are_1002,
    strict::close_of_one_byte_is_1002,
    strict::close_reason_not_utf8_is_1007,
    strict::ping_gets_pong_with_the_same_payload,
    strict::client_close_is_echoed,
    strict::server_close_waits_for_the_client,
    strict::shutdown_sends_1001_and_503,
    // Timers
    timers::ping_after_silence_then_drop_without_pong,
    timers::pong_in_time_keeps_the_client,
    timers::timeouts_drop_a_client_that_does_not_read,
    timers::timers_past_u32_milliseconds,
];

/// The point of this run: the core's lengths are 32 bits wide here.
fn target_is_32_bit() -> Outcome {
    check_eq!(usize::BITS, 32);
    check_eq!(core::mem::size_of::<usize>(), 4);
    Ok(())
}

/// The state types' sizes on the target they ship on (the README's table is x86_64).
fn size_of_state_types() -> Outcome {
    use core::mem::size_of;
    let conn = size_of::<wsgate::Connection<2048, 2048>>();
    let server = size_of::<wsgate::Server<'static, 16, 4096, 4096, 4>>();
    let state = conn - 2048 - 2048 - 125;
    // No larger than on x86_64 (147 bytes of state, 135,808 for the server).
    check!(state <= 147);
    check!(server <= 135_808);
    Ok(())
}

#[entry]
fn main() -> ! {
    use core::mem::size_of;
    hprintln!(
        "wsgate core on thumbv7em-none-eabihf (Cortex-M4F, usize: {} bits)",
        usize::BITS
    );
    let conn = size_of::<wsgate::Connection<2048, 2048>>();
    let server = size_of::<wsgate::Server<'static, 16, 4096, 4096, 4>>();
    hprintln!(
        "size_of Connection<2048, 2048> = {} ({} of state), Server<'static, 16, 4096, 4096, 4> = {}",
        conn,
        conn - 2048 - 2048 - 125,
        server
    );
    hprintln!("running {} tests", TESTS.len());
    let (mut passed, mut failed) = (0u32, 0u32);
    for (name, test) in TESTS {
        check::start(name);
        match test() {
            Ok(()) => {
                passed += 1;
                check::finish("ok");
            }
            Err(f) => {
                failed += 1;
                check::detail(format_args!("at {}:{}: {}", f.file, f.line, f.what));
            }
        }
    }
    hprintln!("{} checks", check::checks());
    hprintln!("{} passed, {} failed", passed, failed);
    debug::exit(if failed == 0 {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    #[allow(clippy::empty_loop)]
    loop {}
}

/// A fault (a stack overflow into unmapped memory, a bad access) ends the run with exit code 1
/// instead of spinning until the runner's `timeout`.
#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    hprintln!("HardFault: {:?}", frame);
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}
