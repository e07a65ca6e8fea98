//! Secret values for tests that prove weir never prints them: two passwords
//! and the forms they could leak in (base64, sha256).

use base64::Engine as _;

pub const OLD_PASSWORD: &str = "hunter2-old-password";
pub const NEW_PASSWORD: &str = "swordfish-new-password";
/// sha256 of [`OLD_PASSWORD`] and [`NEW_PASSWORD`] (`printf %s ... | sha256sum`).
pub const OLD_SHA256: &str = "415c500aaae21d094a359aaa47593578b239e84cee801a786b9f34997e6813c5";
pub const NEW_SHA256: &str = "3a8f7aec796fee56f05ade216369dfd9f77ffe479357a0125c94a7a8248551f1";

/// Standard base64, as a Secret's `data` holds values.
pub fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}
