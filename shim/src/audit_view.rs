//! `ssh-mcp audit` for people at a terminal: the daemon's audit trail (`audit.jsonl` in the state
//! directory, one JSON record per line, and its rotations) as a table, or as stored (`--json`):
//! the last N records that match the filters and, with `--follow`, those appended after, until
//! Ctrl-C. This subcommand owns stdout. `audit_view/files.rs` reads the files, `record.rs` reads
//! and filters a line, `table.rs` lays out the rows.

mod files;
mod record;
mod table;

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ssh_mcp_wire::paths::{self, PathError};
use tokio::signal::unix::{SignalKind, signal};

use files::{Follower, read_last};
use record::{Entry, Filter};
use table::{Cells, FOLLOW_FLOORS, Layout};

/// How often `--follow` looks for new records.
const POLL: Duration = Duration::from_millis(250);

/// The width of a line when stdout is no terminal.
const PIPE_WIDTH: usize = 160;

/// The flags of `ssh-mcp audit`.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Show the last N matching records, oldest first.
    #[arg(short = 'n', long = "last", value_name = "N", default_value_t = 20)]
    pub last: usize,
    /// Print the matching records exactly as stored (JSON Lines) instead of a table; lines that
    /// are no record are left out (the table shows them).
    #[arg(long)]
    pub json: bool,
    /// Then keep printing records as they are appended (Ctrl-C ends).
    #[arg(short, long)]
    pub follow: bool,
    /// Only records whose target matches GLOB (`*` any run of characters, `?` one).
    #[arg(long, value_name = "GLOB")]
    pub target: Option<String>,
    /// Only records of this tool (`ssh_exec`, or `exec`) or gRPC method (`Sessions/Attach`).
    #[arg(long, value_name = "NAME")]
    pub tool: Option<String>,
    /// Only records with this decision.
    #[arg(long, value_name = "D", value_parser = ["allowed", "approved", "declined", "denied"])]
    pub decision: Option<String>,
}

/// Why the audit trail cannot be shown.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    StateDir(#[from] PathError),
    #[error("cannot read {}: {error}", path.display())]
    Read { path: PathBuf, error: io::Error },
    #[error("cannot write the audit records: {0}")]
    Write(io::Error),
    #[error("cannot watch for Ctrl-C: {0}")]
    Signal(io::Error),
}

/// `ssh-mcp audit`: 0 once the records are shown (or there are none yet), or once Ctrl-C or a
/// closed pipe ends `--follow`.
pub async fn run(args: AuditArgs) -> Result<i32, AuditError> {
    let dir = paths::state_dir()?;
    let width = crate::people::terminal_size().map_or(PIPE_WIDTH, |(_, cols)| cols as usize);
    let mut printer = Printer::new(io::stdout().lock(), args.json, width, args.follow);
    show(&dir, &args, &mut printer).await
}

async fn show<W: Write>(
    dir: &Path,
    args: &AuditArgs,
    printer: &mut Printer<W>,
) -> Result<i32, AuditError> {
    let filter = Filter {
        target: args.target.clone(),
        tool: args.tool.clone(),
        decision: args.decision.clone(),
    };
    // Listening before the first row: a Ctrl-C right after it still ends quietly.
    let mut stops = if args.follow {
        let listen = |kind| signal(kind).map_err(AuditError::Signal);
        Some((
            listen(SignalKind::interrupt())?,
            listen(SignalKind::terminate())?,
        ))
    } else {
        None
    };
    // A line that is no record has no place among JSON Lines.
    let keeps = |e: &Entry| filter.keeps(e) && (e.is_record() || !args.json);
    let last = read_last(dir, args.last, keeps, args.follow)?;
    let shown = if last.entries.is_empty() && args.last > 0 {
        let path = files::log_path(dir, 0);
        let note = if last.any_file && !filter.is_empty() {
            format!("no audit records match in {}", path.display())
        } else {
            format!("no audit records yet at {}", path.display())
        };
        printer.note(&note)
    } else {
        printer.first(&last.entries)
    };
    if quiet_end(shown)? {
        return Ok(0);
    }
    let Some((interrupt, terminate)) = &mut stops else {
        return Ok(0);
    };
    let mut follower = Follower::new(dir, last.current);
    loop {
        tokio::select! {
            _ = interrupt.recv() => return Ok(0),
            _ = terminate.recv() => return Ok(0),
            () = tokio::time::sleep(POLL) => {}
        }
        let mut shown = Ok(());
        for line in follower.poll()? {
            let entry = Entry::parse(line);
            if keeps(&entry) {
                shown = shown.and_then(|()| printer.entry(&entry));
            }
        }
        if quiet_end(shown.and_then(|()| printer.out.flush()))? {
            return Ok(0);
        }
    }
}

/// Whether a write found the reader gone (a closed pipe, as `| head` does): the end, quietly.
fn quiet_end(written: io::Result<()>) -> Result<bool, AuditError> {
    match written {
        Ok(()) => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(true),
        Err(e) => Err(AuditError::Write(e)),
    }
}

/// Writes entries as table rows (the header before the first) or as stored.
struct Printer<W: Write> {
    out: W,
    json: bool,
    line_width: usize,
    follow: bool,
    /// Chosen from the first rows, kept for the rows that follow.
    layout: Option<Layout>,
}

impl<W: Write> Printer<W> {
    fn new(out: W, json: bool, line_width: usize, follow: bool) -> Self {
        Self {
            out,
            json,
            line_width,
            follow,
            layout: None,
        }
    }

    /// A note for a person: on stdout with the table, on stderr beside JSON Lines.
    fn note(&mut self, text: &str) -> io::Result<()> {
        if self.json {
            eprintln!("ssh-mcp: {text}");
            Ok(())
        } else {
            writeln!(self.out, "{text}")?;
            self.out.flush()
        }
    }

    /// The entries found before following, with columns as wide as they need.
    fn first(&mut self, entries: &[Entry]) -> io::Result<()> {
        if !self.json && !entries.is_empty() {
            let cells: Vec<Cells> = entries
                .iter()
                .filter_map(|e| match e {
                    Entry::Record { record, .. } => Some(Cells::of(record)),
                    Entry::Unreadable { .. } => None,
                })
                .collect();
            let floors = if self.follow { FOLLOW_FLOORS } else { [0; 7] };
            let layout = Layout::fit(&cells, floors, self.line_width);
            writeln!(self.out, "{}", layout.header())?;
            self.layout = Some(layout);
        }
        for entry in entries {
            self.entry(entry)?;
        }
        self.out.flush()
    }

    fn entry(&mut self, entry: &Entry) -> io::Result<()> {
        if self.json {
            match entry {
                Entry::Record { raw, .. } => {
                    self.out.write_all(raw)?;
                    self.out.write_all(b"\n")
                }
                Entry::Unreadable { .. } => Ok(()),
            }
        } else {
            let layout = match &self.layout {
                Some(layout) => layout,
                None => {
                    let fresh = Layout::fit([], FOLLOW_FLOORS, self.line_width);
                    writeln!(self.out, "{}", fresh.header())?;
                    self.layout.insert(fresh)
                }
            };
            writeln!(self.out, "{}", layout.row(entry))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(last: usize) -> AuditArgs {
        AuditArgs {
            last,
            json: false,
            follow: false,
            target: None,
            tool: None,
            decision: None,
        }
    }

    const LOG: &str = concat!(
        r#"{"time":"2026-12-06T20:40:01.123Z","client":"cc/1","tool":"ssh_exec","target":"prod-1","decision":"allowed","summary":"uname -a","outcome":"ok","exit_code":0,"duration_ms":12}"#,
        "\n",
        "oops\n",
        r#"{"time":"2026-12-06T20:41:00.000Z","client":"cc/1","tool":"ssh_view","target":"db","decision":"denied","summary":"/etc/shadow","outcome":"error","error_type":"policy_denied","duration_ms":0}"#,
        "\n",
    );

    async fn shown(dir: &Path, args: &AuditArgs) -> (i32, String) {
        let mut printer = Printer::new(Vec::new(), args.json, 100, args.follow);
        let code = show(dir, args, &mut printer).await.unwrap();
        (code, String::from_utf8(printer.out).unwrap())
    }

    #[tokio::test]
    async fn the_table_shows_records_and_damaged_lines() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("audit.jsonl"), LOG).unwrap();
        let (code, text) = shown(dir.path(), &args(20)).await;
        assert_eq!(code, 0);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].starts_with("TIME (UTC)"), "{text}");
        assert!(lines[1].starts_with("2026-12-06 20:40:01  cc/1"), "{text}");
        assert!(lines[1].ends_with("uname -a"), "{text}");
        assert!(lines[2].contains("audit.jsonl line 2: not valid JSON: oops"));
        assert!(lines[3].contains("policy_denied"), "{text}");
        let (_, last) = shown(dir.path(), &args(1)).await;
        assert_eq!(last.lines().count(), 2);
        assert!(last.contains("/etc/shadow"));
    }

    #[tokio::test]
    async fn json_prints_the_matching_lines_as_stored() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("audit.jsonl"), LOG).unwrap();
        let json = AuditArgs {
            json: true,
            tool: Some("view".into()),
            ..args(20)
        };
        let (_, text) = shown(dir.path(), &json).await;
        assert_eq!(text, format!("{}\n", LOG.lines().nth(2).unwrap()));
        let all = AuditArgs {
            json: true,
            ..args(20)
        };
        let (_, text) = shown(dir.path(), &all).await;
        let expected: String = LOG
            .lines()
            .filter(|l| *l != "oops")
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(text, expected);
        // The damaged line is not counted either: the last two are the two records.
        let (_, two) = shown(dir.path(), &AuditArgs { last: 2, ..all }).await;
        assert_eq!(two, expected);
    }

    #[tokio::test]
    async fn no_records_is_said_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let (code, text) = shown(dir.path(), &args(20)).await;
        assert_eq!(code, 0);
        assert_eq!(
            text,
            format!("no audit records yet at {}\n", path.display())
        );
        // A damaged line passes every filter (it could have been any record): leave it out here.
        std::fs::write(&path, LOG.replace("oops\n", "")).unwrap();
        let denied_prod = AuditArgs {
            target: Some("prod-*".into()),
            decision: Some("denied".into()),
            ..args(20)
        };
        let (_, text) = shown(dir.path(), &denied_prod).await;
        assert_eq!(
            text,
            format!("no audit records match in {}\n", path.display())
        );
        let (_, text) = shown(dir.path(), &args(0)).await;
        assert_eq!(text, "");
    }

    #[tokio::test]
    async fn an_unreadable_file_is_an_error_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("audit.jsonl")).unwrap();
        let mut printer = Printer::new(Vec::new(), false, 100, false);
        let err = show(dir.path(), &args(20), &mut printer).await.unwrap_err();
        assert!(
            err.to_string().starts_with(&format!(
                "cannot read {}: ",
                dir.path().join("audit.jsonl").display()
            )),
            "{err}"
        );
    }

    #[test]
    fn a_closed_pipe_ends_quietly_and_other_write_errors_do_not() {
        assert!(quiet_end(Err(io::ErrorKind::BrokenPipe.into())).unwrap());
        assert!(!quiet_end(Ok(())).unwrap());
        assert!(quiet_end(Err(io::ErrorKind::StorageFull.into())).is_err());
    }
}
