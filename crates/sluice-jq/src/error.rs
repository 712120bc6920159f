//! Why a program did not compile.

use std::fmt;

/// Why a program did not compile, and where in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JqError {
    /// What is wrong.
    pub message: String,
    /// Byte offset in the program.
    pub offset: usize,
}

impl JqError {
    pub(crate) fn new(message: String, offset: usize) -> JqError {
        JqError { message, offset }
    }
}

impl fmt::Display for JqError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at character {})", self.message, self.offset + 1)
    }
}
