//! Trust: what the user allows agents to do ([`policy`], from `policy.toml`, reloaded while the
//! daemon runs), the names a target is matched by ([`names`]), and the record of every call
//! ([`audit`]). The door asks [`Trust::decide`] before a call runs and writes its record after.

pub mod approval;
pub mod audit;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod names;
pub mod policy;
mod reload;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use ssh_mcp_core::ssh::argv::SshSettings;
use ssh_mcp_core::ssh::options::connection::Connection;

use crate::door::Class;
use policy::local::Places;
use policy::{Decision, Policy, PolicyError, Verdict};

/// Where the policy in force came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// No file: the built-in default.
    Default,
    /// The file, as read at its last good load.
    File,
    /// The file was invalid when the daemon started: nothing on a host is allowed until it is
    /// fixed (a typo must not open what the file meant to close).
    Invalid,
}

/// The policy in force, and the file's last error when a newer version could not be used. A
/// call decides on one `Loaded` from start to end, so a reload mid-way cannot mix two versions.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub policy: Policy,
    pub source: Source,
    /// Why the file's current text is not in force (with line and column).
    pub error: Option<String>,
}

impl Loaded {
    /// What this policy says about `class` on the target known by `names`.
    pub fn decide(&self, names: &[String], class: Class) -> Decision {
        if self.source == Source::Invalid && !matches!(class, Class::Listing | Class::Control) {
            return Decision {
                verdict: Verdict::Deny,
                rule: None,
            };
        }
        self.policy.decide(names, class)
    }
}

/// The daemon's trust state (see the module doc).
pub struct Trust {
    path: PathBuf,
    loaded: RwLock<Arc<Loaded>>,
    places: Places,
    resolver: names::Resolver,
    pub audit: audit::Audit,
    pub approvals: approval::Approvals,
}

/// What names a call's target: a connection the call brings, or the target of a session or
/// forward it acts on, as that was written.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    Connection(&'a Connection),
    Written(&'a str),
}

impl Trust {
    /// Loads `path` (absent: the default policy).
    pub fn new(path: PathBuf, home: Option<PathBuf>, state_dir: &Path) -> std::io::Result<Self> {
        let loaded = reload::first_load(&path);
        if let Some(e) = &loaded.error {
            tracing::error!("policy {}: {e}", path.display());
        }
        Ok(Self {
            places: Places {
                home,
                policy_file: path.clone(),
            },
            path,
            loaded: RwLock::new(Arc::new(loaded)),
            resolver: names::Resolver::default(),
            audit: audit::Audit::new(state_dir),
            approvals: approval::Approvals::new()?,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn places(&self) -> &Places {
        &self.places
    }

    /// The policy in force now.
    pub fn loaded(&self) -> Arc<Loaded> {
        self.loaded
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn replace(&self, next: Loaded) {
        *self
            .loaded
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(next);
    }

    /// Every name `subject` is known by (see [`names`]); only resolved when a rule of `loaded`
    /// could need it.
    pub async fn names(
        &self,
        loaded: &Loaded,
        settings: Option<&SshSettings>,
        subject: Subject<'_>,
    ) -> Vec<String> {
        match subject {
            Subject::Connection(c) if loaded.policy.has_target_rules() => {
                self.resolver.names(settings, c).await
            }
            Subject::Connection(c) => names::all_names(c.target.as_str(), None),
            Subject::Written(t) => match Connection::parse(
                &ssh_mcp_core::ssh::options::connection::RawConnection {
                    target: t.into(),
                    ..Default::default()
                },
                None,
            ) {
                Ok(c) if loaded.policy.has_target_rules() => {
                    self.resolver.names(settings, &c).await
                }
                _ => names::all_names(t, None),
            },
        }
    }

    /// Every name of `conn`'s target, resolved by ssh whatever the policy (for `policy explain`).
    pub async fn resolved_names(
        &self,
        settings: Option<&SshSettings>,
        conn: &Connection,
    ) -> Vec<String> {
        self.resolver.names(settings, conn).await
    }

    /// Starts watching the file: a change is in force within [`reload::POLL`].
    pub fn watch(self: &Arc<Self>, shutdown: crate::shutdown::Shutdown) {
        reload::spawn(self.clone(), shutdown);
    }
}

/// Parses a policy file's text, as `ssh-mcp policy check` does.
pub fn check(text: &str) -> Result<Policy, PolicyError> {
    policy::parse(text)
}
