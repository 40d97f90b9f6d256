//! The assertions: each counts itself, and a failed one prints what it saw and returns a
//! [`Failure`] from the test (no unwinding on this target; a panic ends the whole run).

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use cortex_m_semihosting::{hprint, hprintln};

/// What a failed check returns.
#[derive(Debug)]
pub struct Failure {
    pub file: &'static str,
    pub line: u32,
    pub what: &'static str,
}

/// A test's result.
pub type Outcome = Result<(), Failure>;

static CHECKS: AtomicU32 = AtomicU32::new(0);

/// A `test NAME ... ` line is printed and waits for its `ok` or `FAILED`.
static LINE_OPEN: AtomicBool = AtomicBool::new(false);

/// Prints `test NAME ... ` (the result follows on the same line).
pub fn start(name: &str) {
    hprint!("test {} ... ", name);
    LINE_OPEN.store(true, Ordering::Relaxed);
}

/// Ends the test's line with `ok` or `FAILED`, unless a detail already ended it.
pub fn finish(result: &str) {
    if LINE_OPEN.swap(false, Ordering::Relaxed) {
        hprintln!("{}", result);
    }
}

/// Prints a line about a failure under the test's line (which then says FAILED).
pub fn detail(args: fmt::Arguments<'_>) {
    finish("FAILED");
    hprintln!("      {}", args);
}

/// Counts one check (every `check!`, `check_eq!` and `check_bytes!`).
pub fn count() {
    CHECKS.fetch_add(1, Ordering::Relaxed);
}

/// Checks run so far.
pub fn checks() -> u32 {
    CHECKS.load(Ordering::Relaxed)
}

/// Bytes shown as escaped ASCII, cut after 160 bytes.
pub struct Show<'a>(pub &'a [u8]);

impl fmt::Display for Show<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 160;
        let shown = self.0.get(..MAX).unwrap_or(self.0);
        write!(f, "{} bytes \"{}\"", self.0.len(), shown.escape_ascii())?;
        if shown.len() < self.0.len() {
            f.write_str("...")?;
        }
        Ok(())
    }
}

/// Prints the two sides of a failed byte comparison, and where they first differ.
pub fn show_bytes(left: &[u8], right: &[u8]) {
    let at = left
        .iter()
        .zip(right)
        .position(|(a, b)| a != b)
        .unwrap_or(left.len().min(right.len()));
    detail(format_args!("got:      {}", Show(left)));
    detail(format_args!("expected: {}", Show(right)));
    detail(format_args!("first difference at byte {}", at));
}

/// `check!(cond)`: fails the test when `cond` is false.
macro_rules! check {
    ($cond:expr) => {{
        $crate::check::count();
        if !$cond {
            return Err($crate::check::Failure {
                file: file!(),
                line: line!(),
                what: stringify!($cond),
            });
        }
    }};
}

/// `check_eq!(got, expected)` for `PartialEq + Debug` values.
macro_rules! check_eq {
    ($left:expr, $right:expr) => {{
        $crate::check::count();
        match (&$left, &$right) {
            (left, right) => {
                if *left != *right {
                    $crate::check::detail(format_args!("got:      {:?}", left));
                    $crate::check::detail(format_args!("expected: {:?}", right));
                    return Err($crate::check::Failure {
                        file: file!(),
                        line: line!(),
                        what: concat!(stringify!($left), " == ", stringify!($right)),
                    });
                }
            }
        }
    }};
}

/// `check_bytes!(got, expected)` for anything that is `AsRef<[u8]>`; prints both escaped.
macro_rules! check_bytes {
    ($left:expr, $right:expr) => {{
        $crate::check::count();
        match (&$left, &$right) {
            (left, right) => {
                let left: &[u8] = ::core::convert::AsRef::<[u8]>::as_ref(left);
                let right: &[u8] = ::core::convert::AsRef::<[u8]>::as_ref(right);
                if left != right {
                    $crate::check::show_bytes(left, right);
                    return Err($crate::check::Failure {
                        file: file!(),
                        line: line!(),
                        what: concat!(stringify!($left), " == ", stringify!($right)),
                    });
                }
            }
        }
    }};
}

/// `ok!(result)`: the `Ok` value, or fails the test printing the error.
macro_rules! ok {
    ($result:expr) => {{
        $crate::check::count();
        match $result {
            Ok(v) => v,
            Err(e) => {
                $crate::check::detail(format_args!("error: {:?}", e));
                return Err($crate::check::Failure {
                    file: file!(),
                    line: line!(),
                    what: concat!(stringify!($result), " is Ok"),
                });
            }
        }
    }};
}
