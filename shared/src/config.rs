//! The event functions' environment, read once at start-up.

use crate::error::MissingVariable;

/// The value of the environment variable `name`, which must be set and not blank; the error
/// names it (a function without it cannot start, and Lambda logs why).
pub fn required(name: &str) -> Result<String, MissingVariable> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
        .ok_or_else(|| MissingVariable {
            name: name.to_owned(),
        })
}

/// The value of the environment variable `name`, if set and not blank.
pub fn optional(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}
