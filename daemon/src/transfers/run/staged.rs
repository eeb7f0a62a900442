//! scp's stage, on the host for an upload (`stage_remote.rs`) or here for a download
//! (`stage_local.rs`): where scp writes, what is put in place once the copy is complete, and
//! what a failed copy left whole.

use std::ffi::OsString;

use ssh_mcp_core::ssh::argv::transfer::Operands;

use super::prepare::remote_sizes;
use crate::state::Daemon;
use crate::transfers::checksum;
use crate::transfers::spec::{Tool, TransferSpec};
use crate::transfers::stage::{Landed, WholeSizes};
use crate::transfers::stage_local::LocalStage;
use crate::transfers::stage_remote::RemoteStage;

/// scp's stage: on the host for an upload, here for a download.
pub(super) enum Staged {
    /// Boxed: the SFTP session is large, and a download's stage small.
    Remote(Box<RemoteStage>),
    Local(LocalStage),
}

impl Staged {
    /// The stage of an scp transfer (None for rsync, which keeps temporary files of its own,
    /// and where scp should write in place).
    pub(super) async fn prepare(daemon: &Daemon, spec: &TransferSpec) -> Option<Self> {
        let Tool::Scp { preserve_times, .. } = &spec.tool else {
            return None;
        };
        let keep_mode = !preserve_times;
        match &spec.operands {
            Operands::Upload {
                sources,
                destination,
            } => RemoteStage::prepare(daemon, spec, destination, sources.len(), keep_mode)
                .await
                .map(|s| Self::Remote(Box::new(s))),
            Operands::Download {
                sources,
                destination,
            } => tokio::task::block_in_place(|| {
                LocalStage::prepare(destination, sources.len(), keep_mode)
            })
            .map(Self::Local),
        }
    }

    /// `operands` with the stage in place of the destination.
    pub(super) fn operands(&self, operands: &Operands) -> Operands {
        match (self, operands) {
            (Self::Remote(s), Operands::Upload { sources, .. }) => Operands::Upload {
                sources: sources.clone(),
                destination: s.operand(),
            },
            (Self::Local(s), Operands::Download { sources, .. }) => Operands::Download {
                sources: sources.clone(),
                destination: s.operand(),
            },
            _ => operands.clone(),
        }
    }

    /// After a failed copy: each entry's name with its source's size, for the sources that are
    /// regular files (local ones read here, remote ones stated over SFTP).
    pub(super) async fn whole_sizes(&self, daemon: &Daemon, spec: &TransferSpec) -> WholeSizes {
        let named = match self {
            Self::Remote(s) => s.named().map(OsString::from),
            Self::Local(s) => s.named().cloned(),
        };
        let mut whole = WholeSizes::new();
        match &spec.operands {
            Operands::Upload { sources, .. } => {
                for s in sources {
                    let Ok(meta) = std::fs::metadata(s.as_path()) else {
                        continue;
                    };
                    let name = named
                        .clone()
                        .or_else(|| s.as_path().file_name().map(OsString::from));
                    if let (true, Some(name)) = (meta.is_file(), name) {
                        whole.insert(name, meta.len());
                    }
                }
            }
            Operands::Download { sources, .. } => {
                let sizes = remote_sizes(daemon, spec).await.unwrap_or_default();
                for (s, size) in sources.iter().zip(sizes) {
                    let name = named
                        .clone()
                        .unwrap_or_else(|| OsString::from(checksum::base(s.as_str())));
                    if let Some(size) = size {
                        whole.insert(name, size);
                    }
                }
            }
        }
        whole
    }

    pub(super) async fn commit(
        self,
        whole: Option<&WholeSizes>,
        tracker: &tokio_util::task::TaskTracker,
    ) -> (Landed, Option<String>) {
        match self {
            Self::Remote(s) => s.commit(whole, tracker).await,
            Self::Local(s) => tokio::task::block_in_place(|| s.commit(whole)),
        }
    }

    pub(super) async fn discard(self) {
        match self {
            Self::Remote(s) => s.discard().await,
            Self::Local(s) => tokio::task::block_in_place(|| s.discard()),
        }
    }
}
