//! A transfer request, validated: [`TransferSpec::scp`] and [`TransferSpec::sync`] apply the
//! seed's rules and messages (local sources must exist, a directory needs `recursive`, a local
//! destination's parent must exist, several sources need an existing directory) on top of the
//! core's path and option types.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ssh_mcp_core::ssh::InvalidInput;
use ssh_mcp_core::ssh::argv::rsync::RsyncFlags;
use ssh_mcp_core::ssh::argv::transfer::Operands;
use ssh_mcp_core::ssh::options::connection::Connection;
use ssh_mcp_core::ssh::transfers::extra_rsync_args::ExtraRsyncArgs;
use ssh_mcp_core::ssh::transfers::paths::{LocalOperand, RemotePath};

use crate::door::Common;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Upload,
    Download,
}

impl Direction {
    fn parse(raw: &str) -> Result<Self, InvalidInput> {
        match raw.trim() {
            "upload" => Ok(Self::Upload),
            "download" => Ok(Self::Download),
            _ => Err(InvalidInput::new(
                "'direction' must be one of: download, upload.",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upload => "upload",
            Self::Download => "download",
        }
    }
}

/// What scp and rsync requests share beyond the door's common fields, as the agent sent it.
#[derive(Debug, Clone, Default)]
pub struct RawShared {
    pub direction: String,
    pub checksum: bool,
    pub local_cwd: Option<String>,
    /// The client follows progress (so a download's total is worth a stat first).
    pub progress: bool,
}

#[derive(Debug, Clone, Default)]
pub struct RawScp {
    pub shared: RawShared,
    pub sources: Vec<String>,
    pub destination: String,
    pub recursive: bool,
    pub preserve_times: bool,
}

#[derive(Debug, Clone, Default)]
pub struct RawSync {
    pub shared: RawShared,
    pub source: String,
    pub destination: String,
    pub delete: bool,
    pub compress: Option<bool>,
    pub dry_run: bool,
    pub exclude: Vec<String>,
    pub extra_rsync_args: Vec<String>,
}

/// Which program moves the files, with its own choices.
#[derive(Debug, Clone)]
pub enum Tool {
    Scp {
        recursive: bool,
        preserve_times: bool,
    },
    Rsync {
        flags: RsyncFlags,
        extra: ExtraRsyncArgs,
    },
}

/// A validated transfer.
#[derive(Debug, Clone)]
pub struct TransferSpec {
    pub conn: Connection,
    pub auth_sock: Option<PathBuf>,
    pub direction: Direction,
    pub operands: Operands,
    pub tool: Tool,
    pub timeout: Option<Duration>,
    pub checksum: bool,
    pub progress: bool,
}

struct Shared {
    conn: Connection,
    auth_sock: Option<PathBuf>,
    direction: Direction,
    timeout: Option<Duration>,
    checksum: bool,
    progress: bool,
    home: Option<PathBuf>,
    cwd: Option<PathBuf>,
}

fn shared(common: Common, raw: &RawShared, home: Option<&Path>) -> Result<Shared, InvalidInput> {
    let direction = Direction::parse(&raw.direction)?;
    let cwd = raw
        .local_cwd
        .as_deref()
        .filter(|c| c.starts_with('/') && !c.contains('\0'))
        .map(PathBuf::from);
    Ok(Shared {
        conn: common.conn,
        auth_sock: common.auth_sock,
        direction,
        timeout: common.timeout,
        checksum: raw.checksum,
        progress: raw.progress,
        home: home.map(Path::to_path_buf),
        cwd,
    })
}

impl Shared {
    fn local(&self, field: &str, raw: &str) -> Result<LocalOperand, InvalidInput> {
        LocalOperand::parse(field, raw, self.home.as_deref(), self.cwd.as_deref())
    }
}

/// The seed's checks of a local source.
fn check_local_source(p: &LocalOperand, recursive: bool) -> Result<(), InvalidInput> {
    let path = p.as_path();
    let meta = std::fs::metadata(path).map_err(|_| {
        InvalidInput(format!(
            "Local source path does not exist: {}",
            path.display()
        ))
    })?;
    if meta.is_dir() && !recursive {
        return Err(InvalidInput(format!(
            "Local source path is a directory and requires 'recursive=true': {}",
            path.display()
        )));
    }
    Ok(())
}

/// The parent of a local destination must exist (the seed's rule).
fn check_local_parent(p: &LocalOperand) -> Result<(), InvalidInput> {
    let path = p.as_path();
    if path.is_dir() {
        return Ok(());
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("/"));
    if !parent.is_dir() {
        return Err(InvalidInput(format!(
            "Parent directory for local destination does not exist: {}",
            parent.display()
        )));
    }
    Ok(())
}

impl TransferSpec {
    pub fn scp(common: Common, raw: RawScp, home: Option<&Path>) -> Result<Self, InvalidInput> {
        let c = shared(common, &raw.shared, home)?;
        if raw.sources.is_empty() {
            return Err(InvalidInput::new(
                "'sources' must contain at least 1 item(s).",
            ));
        }
        let operands = match c.direction {
            Direction::Upload => {
                let sources = raw
                    .sources
                    .iter()
                    .enumerate()
                    .map(|(i, s)| c.local(&format!("sources[{i}]"), s))
                    .collect::<Result<Vec<_>, _>>()?;
                let destination = RemotePath::parse("destination", &raw.destination)?;
                for s in &sources {
                    check_local_source(s, raw.recursive)?;
                }
                Operands::Upload {
                    sources,
                    destination,
                }
            }
            Direction::Download => {
                let sources = raw
                    .sources
                    .iter()
                    .enumerate()
                    .map(|(i, s)| RemotePath::parse(&format!("sources[{i}]"), s))
                    .collect::<Result<Vec<_>, _>>()?;
                let destination = c.local("destination", &raw.destination)?;
                if sources.len() > 1 {
                    if !destination.as_path().is_dir() {
                        return Err(InvalidInput(format!(
                            "Local destination must be an existing directory when copying multiple sources: {}",
                            destination.as_path().display()
                        )));
                    }
                } else {
                    check_local_parent(&destination)?;
                }
                Operands::Download {
                    sources,
                    destination,
                }
            }
        };
        Ok(Self {
            conn: c.conn,
            auth_sock: c.auth_sock,
            direction: c.direction,
            operands,
            tool: Tool::Scp {
                recursive: raw.recursive,
                preserve_times: raw.preserve_times,
            },
            timeout: c.timeout,
            checksum: c.checksum,
            progress: c.progress,
        })
    }

    pub fn sync(common: Common, raw: RawSync, home: Option<&Path>) -> Result<Self, InvalidInput> {
        let c = shared(common, &raw.shared, home)?;
        let extra = ExtraRsyncArgs::parse(&raw.extra_rsync_args)?;
        for (i, p) in raw.exclude.iter().enumerate() {
            if p.contains('\0') {
                return Err(InvalidInput(format!(
                    "'exclude[{i}]' cannot contain NUL bytes."
                )));
            }
            if p.contains(['\n', '\r']) {
                return Err(InvalidInput(format!(
                    "'exclude[{i}]' cannot contain a line break."
                )));
            }
        }
        let operands = match c.direction {
            Direction::Upload => {
                let source = c.local("source", &raw.source)?;
                let destination = RemotePath::parse("destination", &raw.destination)?;
                check_local_source(&source, true)?;
                Operands::Upload {
                    sources: vec![source],
                    destination,
                }
            }
            Direction::Download => {
                let source = RemotePath::parse("source", &raw.source)?;
                let destination = c.local("destination", &raw.destination)?;
                check_local_parent(&destination)?;
                Operands::Download {
                    sources: vec![source],
                    destination,
                }
            }
        };
        Ok(Self {
            conn: c.conn,
            auth_sock: c.auth_sock,
            direction: c.direction,
            operands,
            tool: Tool::Rsync {
                flags: RsyncFlags {
                    compress: raw.compress.unwrap_or(true),
                    delete: raw.delete,
                    dry_run: raw.dry_run,
                    exclude: raw.exclude,
                },
                extra,
            },
            timeout: c.timeout,
            checksum: c.checksum,
            progress: c.progress,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw_scp(direction: &str, sources: &[&str], destination: &str) -> RawScp {
        RawScp {
            shared: RawShared {
                direction: direction.into(),
                local_cwd: Some("/".into()),
                ..Default::default()
            },
            sources: sources.iter().map(|s| (*s).to_owned()).collect(),
            destination: destination.into(),
            ..Default::default()
        }
    }

    fn scp_error(raw: RawScp) -> String {
        TransferSpec::scp(crate::door::test_common("h"), raw, None)
            .unwrap_err()
            .0
    }

    #[test]
    fn the_seeds_local_checks_and_messages() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let missing = format!("{d}/nope");
        assert_eq!(
            scp_error(raw_scp("upload", &[&missing], "x")),
            format!("Local source path does not exist: {missing}")
        );
        assert_eq!(
            scp_error(raw_scp("upload", &[&d], "x")),
            format!("Local source path is a directory and requires 'recursive=true': {d}")
        );
        let file = format!("{d}/f");
        std::fs::write(&file, b"x").unwrap();
        assert_eq!(
            scp_error(raw_scp("download", &["a", "b"], &file)),
            format!(
                "Local destination must be an existing directory when copying multiple sources: {file}"
            )
        );
        assert_eq!(
            scp_error(raw_scp("download", &["a"], &format!("{d}/no/f"))),
            format!("Parent directory for local destination does not exist: {d}/no")
        );
        assert_eq!(
            scp_error(raw_scp("sideways", &["a"], "b")),
            "'direction' must be one of: download, upload."
        );
        assert_eq!(
            scp_error(raw_scp("upload", &[], "b")),
            "'sources' must contain at least 1 item(s)."
        );
        assert!(
            TransferSpec::scp(
                crate::door::test_common("h"),
                raw_scp("upload", &[&file], "-x"),
                None
            )
            .is_ok()
        );
    }
}
