//! [`MarkFilter`]: finds the session's invisible marks (`ESC ] ssh-mcp;<nonce>;<mark> BEL`, see
//! `ssh::remote::scripts::MARK_TAG`) in the terminal output, removes them from what readers, the
//! screen and the transcript see, and says where in the kept stream each one was. [`MarkLog`] is
//! what the session remembers of them: the shell's name and the recent runs' start and end
//! offsets.
//!
//! Only marks with this session's nonce count; anything else (other OSC sequences, a mark with
//! another nonce, a malformed one) passes through untouched. A chunk that ends inside what may
//! become a mark is held back until the next chunk decides it.

use std::collections::VecDeque;

use ssh_mcp_core::ssh::remote::scripts::MARK_TAG;

/// The longest mark body (after the prefix, up to the BEL) that is recognised.
const MAX_BODY: usize = 96;
/// Runs remembered by a session's mark log.
const KEPT_RUNS: usize = 32;

/// One mark found in the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mark {
    /// The session's shell, by name (reported once, before it starts).
    Shell(String),
    /// Run `id`'s command starts.
    Start(u64),
    /// Run `id`'s command ended with this status.
    End(u64, i32),
}

#[derive(Debug)]
pub struct MarkFilter {
    prefix: Vec<u8>,
    held: Vec<u8>,
}

impl MarkFilter {
    pub fn new(nonce: &str) -> Self {
        Self {
            prefix: format!("\x1b]{MARK_TAG};{nonce};").into_bytes(),
            held: Vec::new(),
        }
    }

    /// Appends the bytes of `chunk` to keep to `kept`, and each mark with the length `kept` had
    /// where it stood.
    pub fn feed(&mut self, chunk: &[u8], kept: &mut Vec<u8>, marks: &mut Vec<(usize, Mark)>) {
        if self.held.is_empty() {
            self.scan(chunk, kept, marks);
        } else {
            let mut data = std::mem::take(&mut self.held);
            data.extend_from_slice(chunk);
            self.scan(&data, kept, marks);
        }
    }

    fn scan(&mut self, data: &[u8], kept: &mut Vec<u8>, marks: &mut Vec<(usize, Mark)>) {
        let mut i = 0;
        while i < data.len() {
            let Some(esc) = memchr::memchr(0x1b, &data[i..]) else {
                kept.extend_from_slice(&data[i..]);
                return;
            };
            kept.extend_from_slice(&data[i..i + esc]);
            i += esc;
            let rest = &data[i..];
            if rest.len() < self.prefix.len() {
                if self.prefix.starts_with(rest) {
                    self.held = rest.to_vec();
                    return;
                }
            } else if rest.starts_with(&self.prefix) {
                let body = &rest[self.prefix.len()..];
                let window = &body[..body.len().min(MAX_BODY + 1)];
                match memchr::memchr(0x07, window) {
                    Some(end) => {
                        if let Some(mark) = parse(&body[..end]) {
                            marks.push((kept.len(), mark));
                            i += self.prefix.len() + end + 1;
                            continue;
                        }
                    }
                    None if body.len() <= MAX_BODY => {
                        self.held = rest.to_vec();
                        return;
                    }
                    None => {}
                }
            }
            // Not a mark of ours: the escape is ordinary output.
            kept.push(0x1b);
            i += 1;
        }
    }

    /// Passes on whatever is still held back (the output ended inside a possible mark).
    pub fn finish(&mut self, kept: &mut Vec<u8>) {
        kept.append(&mut self.held);
    }
}

fn parse(body: &[u8]) -> Option<Mark> {
    let body = std::str::from_utf8(body).ok()?;
    let mut fields = body.split(';');
    let mark = match (fields.next()?, fields.next()?, fields.next()) {
        ("S", name, None) if !name.is_empty() => Mark::Shell(name.to_owned()),
        ("C", id, None) => Mark::Start(id.parse().ok()?),
        ("D", id, Some(code)) => Mark::End(id.parse().ok()?, code.trim().parse().ok()?),
        _ => return None,
    };
    fields.next().is_none().then_some(mark)
}

/// What a session knows from its marks, with absolute output offsets.
#[derive(Debug, Clone, Default)]
pub struct MarkLog {
    pub shell: Option<String>,
    /// Recent runs: id, where its output starts, and where it ends with its status.
    runs: VecDeque<RunMarks>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunMarks {
    pub id: u64,
    pub start: Option<u64>,
    pub end: Option<(u64, i32)>,
}

impl MarkLog {
    pub fn record(&mut self, offset: u64, mark: Mark) {
        match mark {
            Mark::Shell(name) => self.shell = Some(name),
            Mark::Start(id) => self.run_mut(id).start = Some(offset),
            Mark::End(id, code) => self.run_mut(id).end = Some((offset, code)),
        }
    }

    fn run_mut(&mut self, id: u64) -> &mut RunMarks {
        if let Some(i) = self.runs.iter().position(|r| r.id == id) {
            return &mut self.runs[i];
        }
        if self.runs.len() == KEPT_RUNS {
            self.runs.pop_front();
        }
        self.runs.push_back(RunMarks {
            id,
            start: None,
            end: None,
        });
        let last = self.runs.len() - 1;
        &mut self.runs[last]
    }

    /// The marks seen of run `id`.
    pub fn run(&self, id: u64) -> RunMarks {
        self.runs
            .iter()
            .find(|r| r.id == id)
            .copied()
            .unwrap_or(RunMarks {
                id,
                start: None,
                end: None,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]]) -> (Vec<u8>, Vec<(usize, Mark)>) {
        let mut f = MarkFilter::new("n1");
        let (mut kept, mut marks) = (Vec::new(), Vec::new());
        for c in chunks {
            f.feed(c, &mut kept, &mut marks);
        }
        f.finish(&mut kept);
        (kept, marks)
    }

    #[test]
    fn marks_are_removed_and_placed_even_when_split() {
        let (kept, marks) = run(&[
            b"$ cmd\r\n\x1b]ssh-mcp;n1;C;3\x07out\r\n\x1b",
            b"]ssh-mcp;n1;D;3;",
            b"42\x07$ ",
        ]);
        assert_eq!(kept, b"$ cmd\r\nout\r\n$ ");
        assert_eq!(marks, vec![(7, Mark::Start(3)), (12, Mark::End(3, 42))]);
    }

    #[test]
    fn the_shell_name_is_a_mark() {
        let (kept, marks) = run(&[b"\x1b]ssh-mcp;n1;S;fish\x07> "]);
        assert_eq!(kept, b"> ");
        assert_eq!(marks, vec![(0, Mark::Shell("fish".into()))]);
    }

    #[test]
    fn other_sequences_and_other_nonces_pass_through() {
        let input: &[&[u8]] = &[
            b"\x1b]0;title\x07\x1b[1mbold\x1b[0m",
            b"\x1b]ssh-mcp;zz;D;3;0\x07",
            b"\x1b]ssh-mcp;n1;X;1\x07",
            b"\x1b]ssh-mcp;n1;D;x;0\x07",
            b"tail \x1b",
        ];
        let (kept, marks) = run(input);
        assert_eq!(kept, input.concat());
        assert!(marks.is_empty());
    }

    #[test]
    fn an_unterminated_mark_is_output_once_it_is_too_long() {
        let mut long = b"\x1b]ssh-mcp;n1;C;".to_vec();
        long.extend(std::iter::repeat_n(b'1', 200));
        let (kept, marks) = run(&[&long, b"\x07"]);
        assert!(marks.is_empty());
        assert_eq!(kept, [long.as_slice(), b"\x07"].concat());
    }

    #[test]
    fn the_log_keeps_offsets_per_run() {
        let mut log = MarkLog::default();
        log.record(10, Mark::Start(1));
        log.record(20, Mark::End(1, 0));
        log.record(30, Mark::End(2, 5));
        assert_eq!(log.run(1).start, Some(10));
        assert_eq!(log.run(1).end, Some((20, 0)));
        assert_eq!(log.run(2).start, None);
        assert_eq!(log.run(3).end, None);
    }
}
