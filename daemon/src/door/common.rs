//! [`Common`]: the fields every call on a host carries — how to reach the host, the caller's
//! ssh agent, and how long the call may take — validated once, here, for every tool. The limit
//! on a timeout is defined here and nowhere else.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ssh_mcp_core::ssh::InvalidInput;
use ssh_mcp_core::ssh::options::connection::{Connection, RawConnection};

/// The longest timeout a request may ask for (a week); beyond it, leave `timeout` out.
pub const MAX_TIMEOUT_SECS: f64 = 7.0 * 24.0 * 3600.0;

/// The common fields as a request carries them (plain values, no wire types).
#[derive(Debug, Clone, Default)]
pub struct RawCommon {
    pub connection: RawConnection,
    /// The caller's `SSH_AUTH_SOCK`, sent by the shim from its own environment.
    pub ssh_auth_sock: Option<String>,
    /// The tool's `timeout` in seconds, when it has one and the agent gave it.
    pub timeout_seconds: Option<f64>,
}

/// The common fields, validated.
#[derive(Debug, Clone)]
pub struct Common {
    pub conn: Connection,
    /// The target as the agent wrote it, trimmed: sessions are matched on it, and policies
    /// match it too.
    pub written_target: String,
    /// The ssh agent the call's ssh uses, when the caller has one.
    pub auth_sock: Option<PathBuf>,
    /// The call's limit, when the agent gave one.
    pub timeout: Option<Duration>,
    /// When the call must be over: its entry through the door plus the timeout.
    pub deadline: Option<Instant>,
}

impl Common {
    /// Validates the fields of a call that entered at `entered`; `~/` in local paths means `home`.
    pub fn parse(
        raw: &RawCommon,
        home: Option<&Path>,
        entered: Instant,
    ) -> Result<Self, InvalidInput> {
        let conn = Connection::parse(&raw.connection, home)?;
        let timeout = parse_timeout(raw.timeout_seconds)?;
        Ok(Self {
            written_target: raw.connection.target.trim().to_owned(),
            conn,
            auth_sock: agent_socket(raw.ssh_auth_sock.as_deref()),
            timeout,
            deadline: timeout.map(|t| entered + t),
        })
    }
}

/// A tool's `timeout`: a positive number of seconds up to [`MAX_TIMEOUT_SECS`], or none.
/// Refused with the seed's message at zero or below, and with the limit above it.
pub fn parse_timeout(seconds: Option<f64>) -> Result<Option<Duration>, InvalidInput> {
    match seconds {
        None => Ok(None),
        Some(t) if t.is_finite() && t > 0.0 && t <= MAX_TIMEOUT_SECS => {
            Ok(Some(Duration::from_secs_f64(t)))
        }
        // The seed's wording for a timeout that is not above zero.
        Some(t) if t.is_nan() || t <= 0.0 => Err(InvalidInput::new("'timeout' must be > 0.0.")),
        Some(t) => Err(InvalidInput(format!(
            "'timeout' must be a number of seconds above 0 and at most {MAX_TIMEOUT_SECS} (got {t}); \
             leave it out for no limit"
        ))),
    }
}

/// The caller's agent socket as ssh can use it: none when empty or not a path.
fn agent_socket(raw: Option<&str>) -> Option<PathBuf> {
    raw.filter(|s| !s.is_empty() && !s.contains('\0'))
        .map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(target: &str, timeout: Option<f64>) -> RawCommon {
        RawCommon {
            connection: RawConnection {
                target: target.into(),
                ..Default::default()
            },
            ssh_auth_sock: Some("/run/agent.sock".into()),
            timeout_seconds: timeout,
        }
    }

    #[test]
    fn a_timeout_becomes_a_deadline_from_the_entry() {
        let entered = Instant::now();
        let c = Common::parse(&raw("h", Some(2.5)), None, entered).unwrap();
        assert_eq!(c.timeout, Some(Duration::from_millis(2500)));
        assert_eq!(c.deadline, Some(entered + Duration::from_millis(2500)));
        assert_eq!(c.auth_sock.as_deref(), Some(Path::new("/run/agent.sock")));
        assert!(
            Common::parse(&raw("h", None), None, entered)
                .unwrap()
                .deadline
                .is_none()
        );
    }

    #[test]
    fn timeouts_out_of_range_are_refused_with_the_limit() {
        for bad in [f64::INFINITY, MAX_TIMEOUT_SECS * 2.0] {
            let e = Common::parse(&raw("h", Some(bad)), None, Instant::now()).unwrap_err();
            assert!(e.0.contains("604800"), "{bad}: {e}");
        }
        for bad in [0.0, -1.0, f64::NAN] {
            let e = Common::parse(&raw("h", Some(bad)), None, Instant::now()).unwrap_err();
            assert_eq!(e.0, "'timeout' must be > 0.0.", "{bad}");
        }
    }

    #[test]
    fn a_hostile_target_is_refused_before_anything_else() {
        assert!(Common::parse(&raw("-oProxyCommand=x", None), None, Instant::now()).is_err());
        assert!(Common::parse(&raw("", None), None, Instant::now()).is_err());
    }

    #[test]
    fn an_empty_or_nul_agent_socket_means_none() {
        assert_eq!(agent_socket(Some("")), None);
        assert_eq!(agent_socket(Some("a\0b")), None);
        assert_eq!(agent_socket(None), None);
    }
}
