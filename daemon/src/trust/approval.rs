//! Approval by a person: when the policy says `ask`, the daemon answers the call with a
//! challenge bound to exactly that call (its method and the hash of its request), single use,
//! expiring after [`VALID_FOR`], and signed with a key only this daemon holds. The shim shows
//! the question to the person through the MCP client and sends the call again with the
//! challenge and the person's answer; the daemon runs it only for a challenge it issued, for
//! this very request, not used before and not expired. A client cannot forge or alter one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How long a question may wait for its answer.
pub const VALID_FOR: Duration = Duration::from_secs(5 * 60);

/// The person's answer, as the shim reports it with the challenge.
pub use ssh_mcp_core::protocol::ApprovalAnswer as Answer;

/// Why a challenge is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    #[error("the approval is not one this daemon issued (forged, altered or from an earlier run)")]
    Forged,
    #[error("the approval was given for a different call")]
    OtherCall,
    #[error("the approval expired; ask again")]
    Expired,
    #[error("the approval was used already; each approval runs one call")]
    Used,
}

type HmacSha256 = Hmac<Sha256>;

/// The issuer and checker of challenges.
pub struct Approvals {
    /// As long as SHA-256's block, HMAC's natural key size.
    key: [u8; 64],
    /// Nonces used, with their expiry, so a replay is refused until it would be expired anyway.
    used: Mutex<HashMap<String, u64>>,
}

impl Approvals {
    pub fn new() -> std::io::Result<Self> {
        let mut key = [0u8; 64];
        std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut key)?;
        Ok(Self {
            key,
            used: Mutex::new(HashMap::new()),
        })
    }

    fn mac(&self, payload: &str) -> HmacSha256 {
        let mut mac = <HmacSha256 as Mac>::new(&self.key.into());
        mac.update(payload.as_bytes());
        mac
    }

    /// A challenge for the call whose binding (method and request hash) is `binding`.
    pub fn issue(&self, binding: &str) -> String {
        let mut nonce = [0u8; 16];
        if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
            let _ = std::io::Read::read_exact(&mut f, &mut nonce);
        }
        let expires = now_secs() + VALID_FOR.as_secs();
        let payload = format!("{}.{}.{}", hex(&nonce), expires, binding);
        let tag = self.mac(&payload).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload.as_bytes()),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// Accepts `token` for the call bound by `binding`, once.
    pub fn redeem(&self, token: &str, binding: &str) -> Result<(), ChallengeError> {
        let (payload_b64, tag_b64) = token.split_once('.').ok_or(ChallengeError::Forged)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .ok()
            .and_then(|p| String::from_utf8(p).ok())
            .ok_or(ChallengeError::Forged)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag_b64)
            .map_err(|_| ChallengeError::Forged)?;
        self.mac(&payload)
            .verify_slice(&tag)
            .map_err(|_| ChallengeError::Forged)?;
        let mut parts = payload.splitn(3, '.');
        let (Some(nonce), Some(expires), Some(bound)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(ChallengeError::Forged);
        };
        let expires: u64 = expires.parse().map_err(|_| ChallengeError::Forged)?;
        if bound != binding {
            return Err(ChallengeError::OtherCall);
        }
        let now = now_secs();
        if now > expires {
            return Err(ChallengeError::Expired);
        }
        let mut used = self
            .used
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        used.retain(|_, e| *e >= now);
        if used.insert(nonce.to_owned(), expires).is_some() {
            return Err(ChallengeError::Used);
        }
        Ok(())
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenge_runs_its_own_call_once() {
        let a = Approvals::new().unwrap();
        let token = a.issue("Exec/Run:abc");
        assert_eq!(
            a.redeem(&token, "Exec/Run:other"),
            Err(ChallengeError::OtherCall)
        );
        assert_eq!(a.redeem(&token, "Exec/Run:abc"), Ok(()));
        assert_eq!(a.redeem(&token, "Exec/Run:abc"), Err(ChallengeError::Used));
    }

    #[test]
    fn an_altered_or_foreign_challenge_is_refused() {
        let a = Approvals::new().unwrap();
        let token = a.issue("Exec/Run:abc");
        let (payload, tag) = token.split_once('.').unwrap();
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        // The same nonce and expiry, bound to another call, with the old signature.
        let altered = text.replace("Exec/Run:abc", "Exec/Run:rm");
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(altered));
        assert_eq!(
            a.redeem(&forged, "Exec/Run:rm"),
            Err(ChallengeError::Forged)
        );
        // Another daemon's challenge (another key).
        let other = Approvals::new().unwrap().issue("Exec/Run:abc");
        assert_eq!(
            a.redeem(&other, "Exec/Run:abc"),
            Err(ChallengeError::Forged)
        );
        assert_eq!(a.redeem("garbage", "x"), Err(ChallengeError::Forged));
        assert_eq!(a.redeem("a.b", "x"), Err(ChallengeError::Forged));
    }
}
