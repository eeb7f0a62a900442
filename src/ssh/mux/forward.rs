//! A port forward as the agent asks for it, validated: [`ForwardSpec::parse`] checks the
//! direction, the ports, the far host and the bind address, and [`ForwardSpec::mux_request`] is
//! what the daemon's master is asked to open (`ssh::mux`). Nothing here touches a socket.
//!
//! The directions keep the seed's meaning: `local` listens on this machine at
//! `bind_address:local_port` and connects from the host to `remote_host:remote_port`; `remote`
//! listens on the host at `bind_address:local_port` and connects from this machine to
//! `remote_host:remote_port` (ssh -R's order); `dynamic` is a SOCKS proxy on this machine at
//! `bind_address:local_port` whose connections leave from the host.

use std::fmt;
use std::net::IpAddr;

use super::{ForwardKind, ForwardRequest};
use crate::ssh::InvalidInput;

/// Where a forward listens and where it connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Local,
    Remote,
    Dynamic,
}

impl Direction {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        match raw.trim() {
            "local" => Ok(Self::Local),
            "remote" => Ok(Self::Remote),
            "dynamic" => Ok(Self::Dynamic),
            _ => Err(InvalidInput::new(
                "'direction' must be one of: local, remote, dynamic.",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Remote => "remote",
            Self::Dynamic => "dynamic",
        }
    }

    /// Whether the listening port is on this machine (else on the host).
    pub fn listens_here(self) -> bool {
        !matches!(self, Self::Remote)
    }
}

/// A forward request as the agent sent it.
#[derive(Debug, Clone, Default)]
pub struct RawForward {
    pub direction: String,
    pub local_port: Option<u32>,
    pub remote_host: Option<String>,
    pub remote_port: Option<u32>,
    pub bind_address: Option<String>,
    /// Listening on an address other than loopback must be asked for in so many words.
    pub allow_non_loopback: bool,
}

/// A validated forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardSpec {
    pub direction: Direction,
    pub local_port: u16,
    /// The far end (none for dynamic).
    pub remote_host: Option<String>,
    pub remote_port: Option<u16>,
    /// The listening address, without brackets (`::1`, `127.0.0.1`, `localhost`, `0.0.0.0`).
    pub bind_address: String,
    /// The listening address is reachable from other machines.
    pub non_loopback: bool,
}

/// The bind address used when the agent gives none.
pub const DEFAULT_BIND_ADDRESS: &str = "127.0.0.1";

fn port(name: &str, value: Option<u32>) -> Result<u16, InvalidInput> {
    match value {
        None => Err(InvalidInput(format!("'{name}' is required."))),
        Some(0) => Err(InvalidInput(format!("'{name}' must be >= 1."))),
        Some(p) => {
            u16::try_from(p).map_err(|_| InvalidInput(format!("'{name}' must be <= 65535.")))
        }
    }
}

/// A host name or an IP literal (brackets around an IPv6 literal are dropped).
fn host(name: &str, raw: &str) -> Result<String, InvalidInput> {
    let trimmed = raw.trim();
    let unbracketed = trimmed
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(trimmed);
    if unbracketed.is_empty() {
        return Err(InvalidInput(format!(
            "'{name}' must be a non-empty string."
        )));
    }
    if unbracketed.parse::<IpAddr>().is_ok() {
        return Ok(unbracketed.to_owned());
    }
    let valid_name = unbracketed.len() <= 253
        && !unbracketed.starts_with(['-', '.'])
        && unbracketed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if !valid_name {
        return Err(InvalidInput(format!(
            "'{name}' must be a host name or an IP address (letters, digits, '-', '.', '_'; \
             IPv6 in brackets or bare), got {raw:?}"
        )));
    }
    Ok(unbracketed.to_owned())
}

/// Whether `bind` only accepts connections from this machine (or the host itself, for remote).
fn is_loopback(bind: &str) -> bool {
    bind.eq_ignore_ascii_case("localhost")
        || bind.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl ForwardSpec {
    pub fn parse(raw: &RawForward) -> Result<Self, InvalidInput> {
        let direction = Direction::parse(&raw.direction)?;
        let local_port = port("local_port", raw.local_port)?;
        let (remote_host, remote_port) = match direction {
            Direction::Dynamic => {
                if raw
                    .remote_host
                    .as_deref()
                    .is_some_and(|h| !h.trim().is_empty())
                    || raw.remote_port.is_some()
                {
                    return Err(InvalidInput::new(
                        "a dynamic forward takes no 'remote_host' or 'remote_port': the SOCKS \
                         client names the destination of each connection",
                    ));
                }
                (None, None)
            }
            Direction::Local | Direction::Remote => {
                let h = raw
                    .remote_host
                    .as_deref()
                    .ok_or_else(|| InvalidInput::new("'remote_host' is required."))?;
                (
                    Some(host("remote_host", h)?),
                    Some(port("remote_port", raw.remote_port)?),
                )
            }
        };
        let bind_address = match raw.bind_address.as_deref() {
            None => DEFAULT_BIND_ADDRESS.to_owned(),
            Some(b) if b.trim() == "*" => "0.0.0.0".to_owned(),
            Some(b) => host("bind_address", b)?,
        };
        let non_loopback = !is_loopback(&bind_address);
        if non_loopback && !raw.allow_non_loopback {
            return Err(InvalidInput(format!(
                "'bind_address' {bind_address} is not a loopback address, so other machines could \
                 connect to the forward; pass allow_non_loopback: true if that is intended"
            )));
        }
        Ok(Self {
            direction,
            local_port,
            remote_host,
            remote_port,
            bind_address,
            non_loopback,
        })
    }

    /// What the master is asked to open (and later to close, with the same fields).
    pub fn mux_request(&self) -> ForwardRequest {
        ForwardRequest {
            kind: match self.direction {
                Direction::Local => ForwardKind::Local,
                Direction::Remote => ForwardKind::Remote,
                Direction::Dynamic => ForwardKind::Dynamic,
            },
            listen_host: self.bind_address.clone(),
            listen_port: self.local_port,
            // ssh's own name for a dynamic forward's far end (what `-D` sends over the mux); the
            // master refuses a forward without one.
            connect_host: self
                .remote_host
                .clone()
                .unwrap_or_else(|| "socks".to_owned()),
            connect_port: self.remote_port.unwrap_or(0),
        }
    }

    /// The listening side, `127.0.0.1:8080` or `[::1]:8080`.
    pub fn listen(&self) -> String {
        host_port(&self.bind_address, self.local_port)
    }

    /// The far side (`db:5432`), or `socks` for dynamic.
    pub fn connect(&self) -> String {
        match (&self.remote_host, self.remote_port) {
            (Some(h), Some(p)) => host_port(h, p),
            _ => "socks".into(),
        }
    }
}

/// `host:port`, with an IPv6 literal in brackets.
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

impl fmt::Display for ForwardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (here, there) = match self.direction {
            Direction::Local | Direction::Dynamic => ("here", "via the host"),
            Direction::Remote => ("on the host", "from here"),
        };
        write!(
            f,
            "{} forward: {} {here} -> {} {there}",
            self.direction.as_str(),
            self.listen(),
            self.connect()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(direction: &str) -> RawForward {
        RawForward {
            direction: direction.into(),
            local_port: Some(15432),
            remote_host: Some("db".into()),
            remote_port: Some(5432),
            bind_address: None,
            allow_non_loopback: false,
        }
    }

    #[test]
    fn a_local_forward_defaults_to_loopback() {
        let s = ForwardSpec::parse(&raw("local")).unwrap();
        assert_eq!(s.bind_address, "127.0.0.1");
        assert!(!s.non_loopback);
        assert_eq!(s.listen(), "127.0.0.1:15432");
        assert_eq!(s.connect(), "db:5432");
        let m = s.mux_request();
        assert_eq!(m.kind, ForwardKind::Local);
        assert_eq!(
            (m.listen_host.as_str(), m.listen_port),
            ("127.0.0.1", 15432)
        );
        assert_eq!((m.connect_host.as_str(), m.connect_port), ("db", 5432));
    }

    #[test]
    fn ipv6_binds_are_bracketed_when_shown_and_bare_on_the_wire() {
        for bind in ["::1", "[::1]", " [::1] "] {
            let mut r = raw("local");
            r.bind_address = Some(bind.into());
            let s = ForwardSpec::parse(&r).unwrap();
            assert_eq!(s.bind_address, "::1");
            assert_eq!(s.listen(), "[::1]:15432");
            assert_eq!(s.mux_request().listen_host, "::1");
        }
        let mut r = raw("local");
        r.remote_host = Some("[fe80::1]".into());
        assert_eq!(ForwardSpec::parse(&r).unwrap().connect(), "[fe80::1]:5432");
    }

    #[test]
    fn a_non_loopback_bind_needs_to_be_asked_for() {
        for bind in ["0.0.0.0", "*", "::", "192.168.1.5", "example.com"] {
            let mut r = raw("local");
            r.bind_address = Some(bind.into());
            let e = ForwardSpec::parse(&r).unwrap_err();
            assert!(e.0.contains("allow_non_loopback"), "{bind}: {e}");
            r.allow_non_loopback = true;
            assert!(ForwardSpec::parse(&r).unwrap().non_loopback, "{bind}");
        }
        for bind in ["localhost", "127.0.0.2", "::1"] {
            let mut r = raw("local");
            r.bind_address = Some(bind.into());
            assert!(!ForwardSpec::parse(&r).unwrap().non_loopback, "{bind}");
        }
    }

    #[test]
    fn dynamic_takes_no_far_end() {
        let mut r = raw("dynamic");
        assert!(ForwardSpec::parse(&r).is_err());
        r.remote_host = None;
        r.remote_port = None;
        let s = ForwardSpec::parse(&r).unwrap();
        let m = s.mux_request();
        assert_eq!(m.kind, ForwardKind::Dynamic);
        assert_eq!((m.connect_host.as_str(), m.connect_port), ("socks", 0));
        assert_eq!(s.connect(), "socks");
    }

    #[test]
    fn the_seeds_messages_for_bad_fields() {
        let e = |r: RawForward| ForwardSpec::parse(&r).unwrap_err().0;
        assert_eq!(
            e(raw("sideways")),
            "'direction' must be one of: local, remote, dynamic."
        );
        let mut r = raw("local");
        r.local_port = None;
        assert_eq!(e(r), "'local_port' is required.");
        let mut r = raw("remote");
        r.remote_port = Some(70000);
        assert_eq!(e(r), "'remote_port' must be <= 65535.");
        let mut r = raw("local");
        r.local_port = Some(0);
        assert_eq!(e(r), "'local_port' must be >= 1.");
        let mut r = raw("local");
        r.remote_host = None;
        assert_eq!(e(r), "'remote_host' is required.");
    }

    #[test]
    fn hostile_hosts_are_refused() {
        for h in [
            "-oProxyCommand=x",
            "db;touch x",
            "db host",
            "d\nb",
            "$(id)",
            "a/b",
            "",
            "[]",
            "db:5432",
            "..",
        ] {
            let mut r = raw("local");
            r.remote_host = Some(h.into());
            assert!(ForwardSpec::parse(&r).is_err(), "{h:?}");
            let mut r = raw("local");
            r.bind_address = Some(h.into());
            r.allow_non_loopback = true;
            assert!(ForwardSpec::parse(&r).is_err(), "bind {h:?}");
        }
    }
}
