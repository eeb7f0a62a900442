//! Session requests as the agent sent them ([`RawOpen`], [`RawRead`]) and validated
//! ([`OpenSpec`], [`ReadSpec`]): a refusal names the field and what to send instead, and nothing
//! starts.

use std::path::PathBuf;
use std::time::Duration;

use ssh_mcp_core::ssh::InvalidInput;
use ssh_mcp_core::ssh::options::connection::Connection;
use ssh_mcp_core::ssh::remote::quote::{EnvVar, RemoteDir, RemoteShell};

use super::limits::{self, TermSize};
use crate::door::Common;

/// The longest quiet time a read may ask for.
const MAX_SETTLE_MS: u32 = 10_000;
/// The longest session name accepted.
const MAX_NAME_CHARS: usize = 128;

/// How a person can follow a session: in a tmux session of its own, or from the transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObserverMode {
    Tmux,
    Transcript,
}

impl ObserverMode {
    fn parse(raw: Option<&str>) -> Result<Self, InvalidInput> {
        match raw.map(str::trim) {
            None | Some("tmux") => Ok(Self::Tmux),
            Some("transcript") => Ok(Self::Transcript),
            Some(other) => Err(InvalidInput(format!(
                "'observer_mode' must be 'tmux' or 'transcript' (got {other:?})"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tmux => "tmux",
            Self::Transcript => "transcript",
        }
    }
}

/// A start or ensure request, as sent.
#[derive(Debug, Clone, Default)]
pub struct RawOpen {
    pub session_name: Option<String>,
    pub cwd: Option<String>,
    pub env: Vec<(String, String)>,
    pub shell: Option<String>,
    pub observer_mode: Option<String>,
    pub auto_close: bool,
    pub ensure: bool,
    pub rows: Option<u32>,
    pub cols: Option<u32>,
}

/// A validated start or ensure request.
#[derive(Debug, Clone)]
pub struct OpenSpec {
    pub conn: Connection,
    pub auth_sock: Option<PathBuf>,
    /// The target as the agent wrote it (trimmed): sessions are matched on it.
    pub target: String,
    pub name: Option<String>,
    pub cwd: Option<RemoteDir>,
    pub env: Vec<EnvVar>,
    pub shell: Option<RemoteShell>,
    pub observer: ObserverMode,
    pub auto_close: bool,
    pub ensure: bool,
    pub size: TermSize,
}

impl OpenSpec {
    pub fn parse(common: Common, raw: RawOpen) -> Result<Self, InvalidInput> {
        let name = match raw.session_name.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(name) => {
                if name.chars().any(char::is_control) || name.chars().count() > MAX_NAME_CHARS {
                    return Err(InvalidInput(format!(
                        "'session_name' must be at most {MAX_NAME_CHARS} characters without \
                         control characters (got {name:?})"
                    )));
                }
                Some(name.to_owned())
            }
        };
        let env = raw
            .env
            .iter()
            .map(|(k, v)| EnvVar::parse(k, v))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            target: common.written_target,
            conn: common.conn,
            auth_sock: common.auth_sock,
            name,
            cwd: raw.cwd.as_deref().map(RemoteDir::parse).transpose()?,
            env,
            shell: raw.shell.as_deref().map(RemoteShell::parse).transpose()?,
            observer: ObserverMode::parse(raw.observer_mode.as_deref())?,
            auto_close: raw.auto_close,
            ensure: raw.ensure,
            size: TermSize::parse(raw.rows, raw.cols)?,
        })
    }
}

/// How one call reads, as sent.
#[derive(Debug, Clone, Default)]
pub struct RawRead {
    pub wait_seconds: Option<f64>,
    pub max_output_chars: Option<u64>,
    pub offset: Option<u64>,
    pub strip_ansi: bool,
    pub screen: bool,
    pub reader_id: String,
    pub settle_ms: Option<u32>,
}

/// How one call reads, validated.
#[derive(Debug, Clone)]
pub struct ReadSpec {
    pub wait: Duration,
    pub max_bytes: usize,
    /// Without `max_output_chars`, the output's JSON text stays within this, so that the whole
    /// result fits what clients show (`limits::DEFAULT_OUTPUT_JSON_CHARS`).
    pub json_chars: Option<usize>,
    pub offset: Option<u64>,
    pub strip_ansi: bool,
    pub screen: bool,
    pub reader: String,
    /// How long output must stay quiet before the read returns it.
    pub settle: Duration,
}

impl ReadSpec {
    /// `default_wait` is the tool's default `wait_seconds` (1 s, 2 s for a stop).
    pub fn parse(raw: RawRead, default_wait: f64) -> Result<Self, InvalidInput> {
        let reader = raw.reader_id.trim();
        if reader.len() > 128 || reader.chars().any(char::is_control) {
            return Err(InvalidInput::new(
                "'reader_id' must be at most 128 characters without control characters",
            ));
        }
        Ok(Self {
            wait: limits::wait_seconds("wait_seconds", raw.wait_seconds, default_wait)?,
            max_bytes: limits::max_output_chars(raw.max_output_chars)?,
            json_chars: raw
                .max_output_chars
                .is_none()
                .then_some(limits::DEFAULT_OUTPUT_JSON_CHARS),
            offset: raw.offset,
            strip_ansi: raw.strip_ansi,
            screen: raw.screen,
            settle: match raw.settle_ms {
                None => super::output::DEFAULT_SETTLE,
                Some(ms) if ms <= MAX_SETTLE_MS => Duration::from_millis(u64::from(ms)),
                Some(ms) => {
                    return Err(InvalidInput(format!(
                        "'settle_ms' must be at most {MAX_SETTLE_MS} (got {ms}); leave it out for 75"
                    )));
                }
            },
            reader: if reader.is_empty() {
                "anonymous".to_owned()
            } else {
                reader.to_owned()
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(target: &str, raw: RawOpen) -> Result<OpenSpec, InvalidInput> {
        OpenSpec::parse(crate::door::test_common(target), raw)
    }

    #[test]
    fn names_are_trimmed_and_empty_means_none() {
        let r = RawOpen {
            session_name: Some("  build ".into()),
            ..Default::default()
        };
        let spec = parse(" web ", r).unwrap();
        assert_eq!(spec.name.as_deref(), Some("build"));
        assert_eq!(spec.target, "web");
        let r = RawOpen {
            session_name: Some("   ".into()),
            ..Default::default()
        };
        assert_eq!(parse("web", r).unwrap().name, None);
        let r = RawOpen {
            session_name: Some("a\nb".into()),
            ..Default::default()
        };
        assert!(parse("web", r).is_err());
    }

    #[test]
    fn observer_mode_defaults_to_tmux_and_refuses_others() {
        assert_eq!(
            parse("web", RawOpen::default()).unwrap().observer,
            ObserverMode::Tmux
        );
        let r = RawOpen {
            observer_mode: Some("screen".into()),
            ..Default::default()
        };
        assert!(parse("web", r).is_err());
    }

    #[test]
    fn reads_refuse_nan_and_negative_waits() {
        for bad in [f64::NAN, f64::INFINITY, -1.0, 1e9] {
            let r = RawRead {
                wait_seconds: Some(bad),
                ..Default::default()
            };
            assert!(ReadSpec::parse(r, 1.0).is_err(), "{bad}");
        }
        let spec = ReadSpec::parse(RawRead::default(), 2.0).unwrap();
        assert_eq!(spec.wait, Duration::from_secs(2));
        assert_eq!(spec.reader, "anonymous");
    }
}
