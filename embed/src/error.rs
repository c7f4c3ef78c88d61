//! Error codes, the per-thread message of the last failure, and the guard
//! every entry point runs its body under.
//!
//! Owns [`Code`] (a small stable set, documented in every generated header
//! as `NDE_OK`, `NDE_ERR_*`), [`Failure`] (a code with its message), the
//! thread-local last message, and [`guard`] (`catch_unwind` around a body,
//! so a bug is `NDE_ERR_INTERNAL`, never an abort). Never: print.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What an entry point returns. The numbers are part of the ABI.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// Success.
    Ok = 0,
    /// A required pointer is null.
    Null = 1,
    /// A buffer length does not match what the model needs.
    Length = 2,
    /// An input number is NaN or infinite.
    NonFinite = 3,
    /// No solver method has this name.
    Method = 4,
    /// An option is invalid (tolerance, step size, output times, index).
    Option = 5,
    /// The solver failed (step size too small, too many steps, a singular matrix).
    Solve = 6,
    /// The handle is not one `NAME_new` made (or was freed), or the
    /// library's descriptor has another ABI version.
    Handle = 7,
    /// A bug in nde (a caught panic); the message says where.
    Internal = 8,
}

impl Code {
    /// Every code, in numeric order.
    pub const ALL: [Code; 9] = [
        Code::Ok,
        Code::Null,
        Code::Length,
        Code::NonFinite,
        Code::Method,
        Code::Option,
        Code::Solve,
        Code::Handle,
        Code::Internal,
    ];

    /// A fixed description of the code (`nde_embed_error_message`).
    pub fn describe(self) -> &'static str {
        match self {
            Code::Ok => "success",
            Code::Null => "a required pointer is null",
            Code::Length => "a buffer length does not match the model",
            Code::NonFinite => "an input number is NaN or infinite",
            Code::Method => "unknown solver method",
            Code::Option => "invalid option",
            Code::Solve => "the solver failed",
            Code::Handle => "not a valid model handle",
            Code::Internal => "internal error in nde",
        }
    }

    /// The same text as a C string (static).
    pub fn describe_c(self) -> &'static [u8] {
        match self {
            Code::Ok => b"success\0",
            Code::Null => b"a required pointer is null\0",
            Code::Length => b"a buffer length does not match the model\0",
            Code::NonFinite => b"an input number is NaN or infinite\0",
            Code::Method => b"unknown solver method\0",
            Code::Option => b"invalid option\0",
            Code::Solve => b"the solver failed\0",
            Code::Handle => b"not a valid model handle\0",
            Code::Internal => b"internal error in nde\0",
        }
    }
}

/// A failed call: its code and a message naming the argument and the values.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    pub code: Code,
    pub message: String,
}

impl Failure {
    pub fn new(code: Code, message: impl Into<String>) -> Failure {
        Failure { code, message: message.into() }
    }
}

thread_local! {
    static LAST: RefCell<CString> = RefCell::new(CString::default());
}

/// Records `message` as this thread's last error.
pub fn set_last(message: &str) {
    let c = CString::new(message.replace('\0', " ")).unwrap_or_default();
    LAST.with(|l| *l.borrow_mut() = c);
}

/// This thread's last error message (valid until its next failed call).
pub fn last() -> *const c_char {
    LAST.with(|l| l.borrow().as_ptr())
}

/// Runs `body`, turning a failure or a panic into its code and this
/// thread's message.
pub fn guard(body: impl FnOnce() -> Result<(), Failure>) -> c_int {
    let failure = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => return Code::Ok as c_int,
        Ok(Err(f)) => f,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Failure::new(Code::Internal, format!("internal error (please report): {what}"))
        }
    };
    set_last(&failure.message);
    failure.code as c_int
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn a_failure_sets_the_code_and_this_threads_message() {
        let code = guard(|| Err(Failure::new(Code::Length, "y has 2 elements; the model has 3 states")));
        assert_eq!(code, Code::Length as c_int);
        // SAFETY: `last` is a live NUL-terminated string.
        let msg = unsafe { CStr::from_ptr(last()) }.to_str().unwrap();
        assert_eq!(msg, "y has 2 elements; the model has 3 states");
        assert_eq!(guard(|| Ok(())), 0);
    }

    #[test]
    fn a_panic_is_an_internal_error_not_an_abort() {
        let code = guard(|| panic!("boom"));
        assert_eq!(code, Code::Internal as c_int);
        // SAFETY: as above.
        let msg = unsafe { CStr::from_ptr(last()) }.to_str().unwrap();
        assert!(msg.contains("boom"), "{msg}");
    }

    #[test]
    fn codes_are_numbered_in_order_with_a_description_each() {
        for (i, c) in Code::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i);
            assert_eq!(c.describe_c(), format!("{}\0", c.describe()).as_bytes());
        }
    }
}
