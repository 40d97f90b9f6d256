//! Logging shim: forwards to `defmt` or `log` when one of those features is on, and compiles
//! to nothing otherwise (the arguments are still type-checked). Format strings must use only
//! `{}` and `{:?}`, which both back ends understand.
#![allow(unused_macros)]

macro_rules! ws_log {
    ($level:ident, $($arg:tt)*) => {{
        #[cfg(feature = "defmt")]
        ::defmt::$level!($($arg)*);
        #[cfg(feature = "log")]
        ::log::$level!($($arg)*);
        #[cfg(not(any(feature = "defmt", feature = "log")))]
        {
            let _ = ::core::format_args!($($arg)*);
        }
    }};
}

macro_rules! trace { ($($arg:tt)*) => { ws_log!(trace, $($arg)*) }; }
macro_rules! debug { ($($arg:tt)*) => { ws_log!(debug, $($arg)*) }; }
macro_rules! info { ($($arg:tt)*) => { ws_log!(info, $($arg)*) }; }
macro_rules! warn { ($($arg:tt)*) => { ws_log!(warn, $($arg)*) }; }
