//! Running one command in a session's shell and returning when it has finished, with its output
//! and exit code ([`run`]).
//!
//! How: the daemon types one line into the shell (`ssh::remote::scripts::run_in_session_line`):
//! a start mark, the command through `eval`, and an end mark carrying the exit status. The marks are
//! private OSC sequences with the session's nonce (`ESC ] ssh-mcp;<nonce>;C;<run> BEL` and
//! `…;D;<run>;<status> BEL`), as terminals' shell-integration marks (OSC 133) are; the session's
//! [`super::marks::MarkFilter`] removes them from everything readers, the screen and the
//! transcript see, and records the output offset of each. The run's output is what lies between
//! its two marks, so neither the echoed line nor the next prompt is in it, and no marker text is.
//!
//! Why this design: it needs nothing installed and no change to the shell's state (no functions,
//! traps or prompt hooks, which differ per shell and which a user's rc files may replace), it
//! keeps the command in the session's own shell (`cd` and variables persist, as with typing),
//! and offsets into the output ring make the result exact however the output is chunked. The
//! cost is the typed line itself, which other readers see echoed once. The shell's syntax comes
//! from the `S` mark the session command prints before it starts the shell: `$?` for POSIX
//! shells (sh, dash, bash, zsh, ksh), `$status` for fish; csh and tcsh are refused (their quoting
//! cannot carry a multi-line command through `eval`). The command goes as printf escapes, so a
//! syntax error fails inside `eval` (the end mark still comes) instead of leaving the shell
//! waiting for the rest of a quote; dash and other plain POSIX shells abandon the whole line on
//! such an error, so there the shell checks the command's syntax (`sh -n`) before it evaluates it.
//!
//! Output is returned with the terminal's `\r\n` turned into `\n` (and ANSI stripped if asked),
//! the end kept when it is too long (errors come last). At the timeout the run returns what has
//! arrived and `still_running`; the command goes on, and its end mark is removed when it comes.
//! A run that timed out can be waited for again (`continue_previous`), which returns all its
//! output from its start and its exit code. One run at a time per session: a second call while
//! one waits is refused, and so is a new command while the previous run's command is still going
//! (its line would be typed into that command's input), unless an interrupt (Ctrl-C and the like)
//! has been written to the session since, which hands the session back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use ssh_mcp_core::ssh::InvalidInput;
use ssh_mcp_core::ssh::remote::scripts::{RunSyntax, run_in_session_line};

use super::limits;
use super::marks::RunMarks;
use super::output::ReadFrom;
use super::screen::strip_ansi;
use super::session::Session;
use crate::error::DaemonError;

/// `timeout_seconds` of a run when left out.
pub const DEFAULT_RUN_TIMEOUT_SECONDS: f64 = 30.0;
/// The longest typed line: a terminal in canonical mode (dash reads so) takes 4095 bytes a line.
pub const MAX_RUN_LINE_BYTES: usize = 4000;
/// How long a run waits for the session's shell to have said its name.
const SHELL_NAME_WAIT: Duration = Duration::from_secs(10);

/// Per-session run state: one run call at a time, run ids, and the run whose end is awaited.
#[derive(Debug, Default)]
pub struct RunState {
    gate: tokio::sync::Mutex<()>,
    last_id: AtomicU64,
    /// The last run that returned before its end (timed out), and when it was typed.
    pending: Mutex<Option<(u64, Instant)>>,
}

impl RunState {
    /// Forgets the run whose end was awaited (someone interrupted it by hand).
    pub fn forget_pending(&self) {
        self.set_pending(None);
    }

    fn pending(&self) -> Option<(u64, Instant)> {
        *self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set_pending(&self, run: Option<(u64, Instant)>) {
        *self.pending.lock().unwrap_or_else(PoisonError::into_inner) = run;
    }
}

/// Whether typed `input` interrupts, suspends or ends what runs in the foreground (Ctrl-C,
/// Ctrl-\\, Ctrl-Z, Ctrl-D): a shell abandons the rest of a run's line then, so its end mark
/// may never come.
pub fn interrupts(input: &[u8]) -> bool {
    input.iter().any(|b| matches!(b, 0x03 | 0x1c | 0x1a | 0x04))
}

/// A run as the agent asked for it, unchecked.
#[derive(Debug, Clone, Default)]
pub struct RawRun {
    pub command: String,
    /// Wait again for the run that returned still running, instead of running a command.
    pub continue_previous: bool,
    pub timeout_seconds: Option<f64>,
    pub max_output_chars: Option<u64>,
    pub strip_ansi: bool,
}

/// A validated run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// `None`: wait again for the previous run.
    pub command: Option<String>,
    pub timeout: Duration,
    pub max_bytes: usize,
    /// Without `max_output_chars`, the kept end's JSON text stays within this
    /// (`limits::DEFAULT_OUTPUT_JSON_CHARS`).
    pub json_chars: Option<usize>,
    pub strip_ansi: bool,
}

impl RunSpec {
    pub fn parse(raw: RawRun) -> Result<Self, InvalidInput> {
        limits::input_len("command", raw.command.len())?;
        let empty = raw.command.trim().is_empty();
        let command = match (raw.continue_previous, empty) {
            (false, false) => Some(raw.command),
            (true, true) => None,
            (false, true) => {
                return Err(InvalidInput(
                    "'command' is empty; give the command to run in the session (or set \
                     continue_previous to wait again for a command still running)"
                        .into(),
                ));
            }
            (true, false) => {
                return Err(InvalidInput(
                    "'command' must be empty with continue_previous, which waits again for \
                     the command still running"
                        .into(),
                ));
            }
        };
        Ok(Self {
            command,
            timeout: limits::wait_seconds(
                "timeout_seconds",
                raw.timeout_seconds,
                DEFAULT_RUN_TIMEOUT_SECONDS,
            )?,
            max_bytes: limits::max_output_chars(raw.max_output_chars)?,
            json_chars: raw
                .max_output_chars
                .is_none()
                .then_some(limits::DEFAULT_OUTPUT_JSON_CHARS),
            strip_ansi: raw.strip_ansi,
        })
    }
}

/// What a run returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOutcome {
    pub run_id: u64,
    /// The command's output (its end, when longer than asked for), `\r\n` as `\n`.
    pub output: Vec<u8>,
    /// The command's status; the session's, when the command ended the session (`exit 3`).
    pub exit_code: Option<i32>,
    /// The shell reached the command (its start mark came).
    pub started: bool,
    pub still_running: bool,
    pub timed_out: bool,
    pub session_ended: bool,
    pub duration: Duration,
    /// Output bytes the command wrote (as the terminal sent them).
    pub output_bytes: u64,
    /// `output` is not all of it: the start was cut to fit, or the session's buffer lost it.
    pub truncated: bool,
}

/// Runs `spec.command` in `session`'s shell (or takes the previous run that is still going) and
/// waits for its end, the timeout or the session's end.
pub async fn run(session: &Session, spec: &RunSpec) -> Result<RunOutcome, DaemonError> {
    if !session.is_running() || session.nonce.is_empty() {
        return Err(DaemonError::SessionGone(format!(
            "Session '{}' has ended; open a new one to run commands.",
            session.id
        )));
    }
    let Ok(_one_at_a_time) = session.runs.gate.try_lock() else {
        return Err(DaemonError::SessionConflict(format!(
            "Session '{}' is already running a command for another call; wait for it to return.",
            session.id
        )));
    };
    let (id, began) = match &spec.command {
        Some(command) => type_run(session, command).await?,
        None => session.runs.pending().ok_or_else(|| {
            DaemonError::SessionConflict(format!(
                "Session '{}' has no command still running from an earlier run to wait for.",
                session.id
            ))
        })?,
    };
    let mut marks = session.marks.subscribe();
    let mut ended = session.ended_watch();
    let deadline = tokio::time::Instant::now() + spec.timeout;
    let finished = tokio::select! {
        r = marks.wait_for(|log| log.run(id).end.is_some()) => r.is_ok(),
        _ = ended.wait_for(|e| *e) => false,
        _ = tokio::time::sleep_until(deadline) => false,
    };
    let seen = session.marks.borrow().run(id);
    let session_ended = !finished && !session.is_running();
    if finished || session_ended {
        session.runs.set_pending(None);
    }
    let mut outcome = collect(session, &seen, spec);
    outcome.run_id = id;
    outcome.duration = began.elapsed();
    outcome.session_ended = session_ended;
    outcome.timed_out = !finished && !session_ended;
    outcome.still_running = outcome.timed_out;
    if session_ended && seen.start.is_some() {
        outcome.exit_code = session.exit().and_then(|e| e.code);
    }
    Ok(outcome)
}

/// Types the line of a new run of `command`; returns its id and when it was typed.
async fn type_run(session: &Session, command: &str) -> Result<(u64, Instant), DaemonError> {
    if let Some((previous, _)) = session.runs.pending() {
        let marks = session.marks.borrow().run(previous);
        if marks.start.is_some() && marks.end.is_none() {
            return Err(DaemonError::SessionConflict(format!(
                "Session '{}' is still running the previous command (run {previous}). Wait for \
                 it with continue_previous, or interrupt it by writing Ctrl-C (\\u0003); then \
                 run again.",
                session.id
            )));
        }
    }
    let syntax = shell_syntax(session).await?;
    let id = session.runs.last_id.fetch_add(1, Ordering::Relaxed) + 1;
    let mut line = run_in_session_line(syntax, &session.nonce, id, command);
    if line.len() > MAX_RUN_LINE_BYTES {
        return Err(DaemonError::Invalid(InvalidInput(format!(
            "'command' is too long to type as one line ({} bytes once escaped, at most \
             {MAX_RUN_LINE_BYTES}): put it in a script with ssh_create and run the script",
            line.len()
        ))));
    }
    line.push('\n');
    let began = Instant::now();
    session.runs.set_pending(Some((id, began)));
    session.type_in(line.as_bytes()).await?;
    Ok((id, began))
}

/// The syntax of the session's shell, once its name has come (it comes before the shell starts,
/// so this waits only for a session that has just been opened).
async fn shell_syntax(session: &Session) -> Result<RunSyntax, DaemonError> {
    let mut marks = session.marks.subscribe();
    let named =
        tokio::time::timeout(SHELL_NAME_WAIT, marks.wait_for(|log| log.shell.is_some())).await;
    let name = match named {
        Ok(Ok(log)) => log.shell.clone().unwrap_or_default(),
        // No name (a shell started some other way): POSIX is the common case.
        _ => return Ok(RunSyntax::PosixChecked),
    };
    RunSyntax::of_shell(&name).ok_or_else(|| {
        DaemonError::SessionConflict(format!(
            "Session '{}' runs {name}, which this tool cannot drive; use ssh_write_session and \
             ssh_read_session, or open the session with shell \"sh\" or \"bash\".",
            session.id
        ))
    })
}

/// The run's output from the ring: between its marks, or from its start to now.
fn collect(session: &Session, seen: &RunMarks, spec: &RunSpec) -> RunOutcome {
    let exit_code = seen.end.map(|(_, code)| code);
    let Some(start) = seen.start else {
        return RunOutcome {
            exit_code,
            ..Default::default()
        };
    };
    let end = seen
        .end
        .map_or_else(|| session.output().end_offset(), |(at, _)| at);
    let mut bytes = Vec::new();
    let mut from = start;
    let mut lost = 0;
    while from < end {
        let chunk = session
            .output()
            .read_now(ReadFrom::Offset(from), (end - from) as usize, None);
        lost += chunk.dropped_bytes;
        if chunk.to <= chunk.from {
            break;
        }
        bytes.extend_from_slice(&chunk.bytes);
        from = chunk.to;
    }
    let text = if spec.strip_ansi {
        strip_ansi(&bytes).into_bytes()
    } else {
        bytes
    };
    let mut output = crlf_to_lf(&text);
    let mut cut = tail_start(&output, spec.max_bytes);
    if let Some(max_chars) = spec.json_chars {
        // Without max_output_chars the result must fit what clients show (escapes counted).
        cut = cut.max(crate::outputs::page::json_suffix_start(&output, max_chars));
    }
    output.drain(..cut);
    RunOutcome {
        output,
        exit_code,
        started: true,
        output_bytes: end - start,
        truncated: cut > 0 || lost > 0,
        ..Default::default()
    }
}

/// Where the last `max` bytes of `bytes` start, moved past at most 3 bytes that continue a
/// UTF-8 character begun before the cut.
fn tail_start(bytes: &[u8], max: usize) -> usize {
    let cut = bytes.len().saturating_sub(max);
    if cut == 0 {
        return 0;
    }
    (cut..bytes.len().min(cut + 3))
        .find(|&i| bytes[i] & 0xc0 != 0x80)
        .unwrap_or(cut)
}

/// `\r\n` as `\n`: the terminal's line ends, as a command writes them.
fn crlf_to_lf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            continue;
        }
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_ends_become_newlines_and_lone_returns_stay() {
        assert_eq!(crlf_to_lf(b"a\r\nb\r\n"), b"a\nb\n");
        assert_eq!(crlf_to_lf(b"50%\r100%\r\n"), b"50%\r100%\n");
    }

    #[test]
    fn the_kept_end_starts_on_a_character() {
        assert_eq!(tail_start(b"abc", 10), 0);
        assert_eq!(tail_start(b"abcdef", 2), 4);
        let text = "aé€".as_bytes();
        // The last 3 bytes are all of €; the last 4 start inside é.
        assert_eq!(tail_start(text, 3), 3);
        assert_eq!(tail_start(text, 4), 3);
        assert_eq!(tail_start(&[0x80; 10], 4), 6);
    }

    #[test]
    fn a_run_is_validated() {
        let ok = RunSpec::parse(RawRun {
            command: "ls".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(ok.timeout, Duration::from_secs(30));
        for (raw, field) in [
            (
                RawRun {
                    command: " ".into(),
                    ..Default::default()
                },
                "'command'",
            ),
            (
                RawRun {
                    command: "ls".into(),
                    timeout_seconds: Some(f64::NAN),
                    ..Default::default()
                },
                "'timeout_seconds'",
            ),
            (
                RawRun {
                    command: "ls".into(),
                    timeout_seconds: Some(-1.0),
                    ..Default::default()
                },
                "'timeout_seconds'",
            ),
            (
                RawRun {
                    command: "ls".into(),
                    max_output_chars: Some(0),
                    ..Default::default()
                },
                "'max_output_chars'",
            ),
        ] {
            let err = RunSpec::parse(raw).unwrap_err();
            assert!(err.0.starts_with(field), "{err}");
        }
    }
}
