//! [`Method`]: every gRPC method the daemon serves, with the [`Class`] of what it does. The door
//! counts calls per method and, in time, decides per class what a target allows.

/// What a call does, as a policy speaks of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Reads remote files (ssh_view, ssh_grep, ssh_glob).
    Read,
    /// Changes remote files (ssh_create, ssh_edit).
    Write,
    /// Runs a command (ssh_exec, ssh_run_in_session).
    Exec,
    /// Starts, drives or stops an interactive session.
    Session,
    /// Copies files between this machine and a host (ssh_scp, ssh_sync).
    Transfer,
    /// Opens or stops a port forward.
    Forward,
    /// Lists or reads back what the daemon holds (sessions, forwards, kept outputs); touches no
    /// host.
    Listing,
    /// The daemon's own status and stop; touches no host.
    Control,
}

impl Class {
    /// The classes a policy names, in the order `ssh-mcp policy explain` shows them (listing
    /// and control touch no host and are always allowed).
    pub const POLICY: [Class; 6] = [
        Self::Read,
        Self::Write,
        Self::Exec,
        Self::Session,
        Self::Transfer,
        Self::Forward,
    ];

    /// The class's name as policies and audit records write it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Exec => "exec",
            Self::Session => "session",
            Self::Transfer => "transfer",
            Self::Forward => "forward",
            Self::Listing => "listing",
            Self::Control => "control",
        }
    }
}

/// One gRPC method of the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    ControlStatus,
    ControlStop,
    ControlCheckPolicy,
    ControlExplainPolicy,
    ExecRun,
    FilesView,
    FilesCreate,
    FilesEdit,
    SearchGrep,
    SearchGlob,
    SessionsOpen,
    SessionsRead,
    SessionsWrite,
    SessionsStop,
    SessionsList,
    SessionsRun,
    SessionsAttach,
    TransfersScp,
    TransfersSync,
    ForwardsOpen,
    ForwardsList,
    ForwardsStop,
    OutputsRead,
    JobsStop,
    JobsList,
    HostsList,
}

impl Method {
    /// Every method, in the order of the proto files.
    pub const ALL: [Method; 26] = [
        Self::ControlStatus,
        Self::ControlStop,
        Self::ControlCheckPolicy,
        Self::ControlExplainPolicy,
        Self::ExecRun,
        Self::FilesView,
        Self::FilesCreate,
        Self::FilesEdit,
        Self::SearchGrep,
        Self::SearchGlob,
        Self::SessionsOpen,
        Self::SessionsRead,
        Self::SessionsWrite,
        Self::SessionsStop,
        Self::SessionsList,
        Self::SessionsRun,
        Self::SessionsAttach,
        Self::TransfersScp,
        Self::TransfersSync,
        Self::ForwardsOpen,
        Self::ForwardsList,
        Self::ForwardsStop,
        Self::OutputsRead,
        Self::JobsStop,
        Self::JobsList,
        Self::HostsList,
    ];

    /// The method's gRPC name, `Service/Method`.
    pub fn name(self) -> &'static str {
        match self {
            Self::ControlStatus => "Control/Status",
            Self::ControlStop => "Control/Stop",
            Self::ControlCheckPolicy => "Control/CheckPolicy",
            Self::ControlExplainPolicy => "Control/ExplainPolicy",
            Self::ExecRun => "Exec/Run",
            Self::FilesView => "Files/View",
            Self::FilesCreate => "Files/Create",
            Self::FilesEdit => "Files/Edit",
            Self::SearchGrep => "Search/Grep",
            Self::SearchGlob => "Search/Glob",
            Self::SessionsOpen => "Sessions/Open",
            Self::SessionsRead => "Sessions/Read",
            Self::SessionsWrite => "Sessions/Write",
            Self::SessionsStop => "Sessions/Stop",
            Self::SessionsList => "Sessions/List",
            Self::SessionsRun => "Sessions/Run",
            Self::SessionsAttach => "Sessions/Attach",
            Self::TransfersScp => "Transfers/Scp",
            Self::TransfersSync => "Transfers/Sync",
            Self::ForwardsOpen => "Forwards/Open",
            Self::ForwardsList => "Forwards/List",
            Self::ForwardsStop => "Forwards/Stop",
            Self::OutputsRead => "Outputs/Read",
            Self::JobsStop => "Jobs/Stop",
            Self::JobsList => "Jobs/List",
            Self::HostsList => "Hosts/List",
        }
    }

    pub fn class(self) -> Class {
        match self {
            Self::ControlStatus
            | Self::ControlStop
            | Self::ControlCheckPolicy
            | Self::ControlExplainPolicy => Class::Control,
            Self::ExecRun | Self::SessionsRun => Class::Exec,
            Self::FilesView | Self::SearchGrep | Self::SearchGlob => Class::Read,
            Self::FilesCreate | Self::FilesEdit => Class::Write,
            Self::SessionsOpen
            | Self::SessionsRead
            | Self::SessionsWrite
            | Self::SessionsStop
            | Self::SessionsAttach => Class::Session,
            // A kept output is read from the daemon's disk: the host was asked when it ran.
            Self::SessionsList
            | Self::ForwardsList
            | Self::OutputsRead
            | Self::JobsList
            | Self::HostsList => Class::Listing,
            // Ending a job's processes on its host (never refused: see `door::admit`).
            Self::JobsStop => Class::Exec,
            Self::TransfersScp | Self::TransfersSync => Class::Transfer,
            Self::ForwardsOpen | Self::ForwardsStop => Class::Forward,
        }
    }

    /// Whether the call starts new work on a host (a command, a file operation, a search, a
    /// session, a transfer, a forward): such calls are refused once the daemon shuts down,
    /// while the rest (reads, stops, lists, status) still answer about what is ending.
    pub fn starts_work(self) -> bool {
        matches!(
            self,
            Self::ExecRun
                | Self::FilesView
                | Self::FilesCreate
                | Self::FilesEdit
                | Self::SearchGrep
                | Self::SearchGlob
                | Self::SessionsOpen
                | Self::TransfersScp
                | Self::TransfersSync
                | Self::ForwardsOpen
        )
    }

    /// The method's place in [`Method::ALL`] (the index of its counter): its discriminant, as
    /// `ALL` lists the methods in declaration order (a unit test checks it).
    pub fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_has_its_own_index_and_name() {
        for (i, m) in Method::ALL.iter().enumerate() {
            assert_eq!(m.index(), i, "{m:?}");
        }
        let names: std::collections::HashSet<_> = Method::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(names.len(), Method::ALL.len());
    }

    #[test]
    fn running_a_command_is_exec_wherever_it_happens() {
        assert_eq!(Method::ExecRun.class(), Class::Exec);
        assert_eq!(Method::SessionsRun.class(), Class::Exec);
        assert_eq!(Method::SessionsWrite.class(), Class::Session);
        assert_eq!(Method::SessionsList.class(), Class::Listing);
    }
}
