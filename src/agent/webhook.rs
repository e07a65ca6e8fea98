//! Push webhooks: is a request really from the Git host? The pure half of
//! the agent's `/hooks/<namespace>/<name>` endpoint.
//!
//! Three forms are accepted, each checked against the Sync's webhook token
//! in constant time:
//!
//! - GitHub (and Gitea, Forgejo): `X-Hub-Signature-256: sha256=<hex>`, the
//!   HMAC-SHA256 of the body keyed by the token;
//! - GitLab: `X-Gitlab-Token: <token>`, the token itself;
//! - anything else that can sign: `X-Weir-Signature: sha256=<hex>` (or
//!   `X-Signature`, as Flux's generic-hmac receiver takes it), as GitHub's.
//!
//! A webhook only says "fetch now": nothing in its body is believed (the
//! commit applied is always the one fetched from Git), so the body is read
//! only to check its signature, up to [`MAX_BODY`].

use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

/// The largest webhook body read (GitHub caps payloads at 25 MB, but a
/// push event with 20 commits is some 30 KB).
pub const MAX_BODY: usize = 1024 * 1024;

/// Headers that carry a signature or token.
pub const GITHUB_HEADER: &str = "x-hub-signature-256";
pub const GITLAB_HEADER: &str = "x-gitlab-token";
pub const GENERIC_HEADER: &str = "x-weir-signature";
/// The generic header as Flux's generic-hmac receiver names it.
pub const GENERIC_HEADER_FLUX: &str = "x-signature";

/// Which form a verified webhook came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    GitHub,
    GitLab,
    Generic,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::GitHub => "github",
            Provider::GitLab => "gitlab",
            Provider::Generic => "generic",
        }
    }
}

/// Why a webhook was refused (the agent answers 401 and triggers nothing).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error(
        "no signature: send X-Hub-Signature-256 (GitHub), X-Gitlab-Token (GitLab) or X-Weir-Signature"
    )]
    Unsigned,
    #[error("the signature is not of the form sha256=<hex>")]
    Malformed,
    #[error("the signature does not match the Sync's webhook token")]
    Mismatch,
}

/// Checks a request's signature against `token`. `header` looks a header
/// up by its lower-case name.
pub fn verify<'a>(
    header: impl Fn(&str) -> Option<&'a str>,
    body: &[u8],
    token: &[u8],
) -> Result<Provider, Rejection> {
    if let Some(signature) = header(GITHUB_HEADER) {
        return verify_hmac(signature, body, token).map(|()| Provider::GitHub);
    }
    if let Some(given) = header(GITLAB_HEADER) {
        return if bool::from(given.as_bytes().ct_eq(token)) {
            Ok(Provider::GitLab)
        } else {
            Err(Rejection::Mismatch)
        };
    }
    if let Some(signature) = header(GENERIC_HEADER).or_else(|| header(GENERIC_HEADER_FLUX)) {
        return verify_hmac(signature, body, token).map(|()| Provider::Generic);
    }
    Err(Rejection::Unsigned)
}

/// `sha256=<hex>` against the HMAC-SHA256 of `body`, in constant time.
fn verify_hmac(signature: &str, body: &[u8], token: &[u8]) -> Result<(), Rejection> {
    let hex_digest = signature
        .trim()
        .strip_prefix("sha256=")
        .ok_or(Rejection::Malformed)?;
    let given = hex::decode(hex_digest).map_err(|_| Rejection::Malformed)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(token).map_err(|_| Rejection::Mismatch)?;
    mac.update(body);
    mac.verify_slice(&given).map_err(|_| Rejection::Mismatch)
}

/// `sha256=<hex>` of `body` keyed by `token`: what a sender puts in
/// `X-Hub-Signature-256` or `X-Weir-Signature` (tests and docs use it).
pub fn sign(body: &[u8], token: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(token) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }

    #[test]
    fn github_signatures() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let good = sign(body, b"s3cret");
        assert_eq!(
            verify(headers(&[(GITHUB_HEADER, &good)]), body, b"s3cret"),
            Ok(Provider::GitHub)
        );
        assert_eq!(
            verify(headers(&[(GITHUB_HEADER, &good)]), body, b"other"),
            Err(Rejection::Mismatch)
        );
        assert_eq!(
            verify(headers(&[(GITHUB_HEADER, &good)]), b"tampered", b"s3cret"),
            Err(Rejection::Mismatch)
        );
        assert_eq!(
            verify(headers(&[(GITHUB_HEADER, "sha1=abc")]), body, b"s3cret"),
            Err(Rejection::Malformed)
        );
        assert_eq!(
            verify(headers(&[(GITHUB_HEADER, "sha256=zz")]), body, b"s3cret"),
            Err(Rejection::Malformed)
        );
        // A known vector: GitHub's documentation example.
        assert_eq!(
            sign(b"Hello, World!", b"It's a Secret to Everybody"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn gitlab_tokens_and_generic_signatures() {
        assert_eq!(
            verify(headers(&[(GITLAB_HEADER, "s3cret")]), b"{}", b"s3cret"),
            Ok(Provider::GitLab)
        );
        assert_eq!(
            verify(headers(&[(GITLAB_HEADER, "s3cre")]), b"{}", b"s3cret"),
            Err(Rejection::Mismatch)
        );
        let sig = sign(b"{}", b"k");
        assert_eq!(
            verify(headers(&[(GENERIC_HEADER, &sig)]), b"{}", b"k"),
            Ok(Provider::Generic)
        );
        assert_eq!(verify(headers(&[]), b"{}", b"k"), Err(Rejection::Unsigned));
    }
}
