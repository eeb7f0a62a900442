//! [`PidReportFilter`]: finds the remote pid line that
//! `ssh::remote::scripts::RemoteCommand::with_pid_report` puts before the command, removes it from
//! the stream, and passes every other byte through; and
//! [`nonce`], the random part of the report that a command cannot forge (sessions and forwards
//! take their ids from it too).

use ssh_mcp_core::ssh::remote::scripts::PID_REPORT_PREFIX;

/// How far to look for the report before giving up (login scripts may print first).
const SEARCH_LIMIT: usize = 64 * 1024;

#[derive(Debug)]
pub struct PidReportFilter {
    marker: Vec<u8>,
    pending: Vec<u8>,
    done: bool,
}

impl PidReportFilter {
    pub fn new(nonce: &str) -> Self {
        let mut marker = PID_REPORT_PREFIX.to_vec();
        marker.extend_from_slice(nonce.as_bytes());
        marker.push(b':');
        Self {
            marker,
            pending: Vec::new(),
            done: false,
        }
    }

    /// Feeds one chunk; passes the bytes to keep to `out` and returns the pid once found.
    pub fn feed(&mut self, chunk: &[u8], out: &mut impl FnMut(&[u8])) -> Option<u32> {
        if self.done {
            out(chunk);
            return None;
        }
        self.pending.extend_from_slice(chunk);
        let Some(start) = find(&self.pending, &self.marker) else {
            // Pass on at once what cannot be the start of the report (an ssh password prompt,
            // a login banner): hold back only a tail that may be the marker's beginning.
            let keep = longest_marker_prefix_at_end(&self.pending, &self.marker);
            let pass = self.pending.len() - keep;
            if pass > 0 {
                out(&self.pending[..pass]);
                self.pending.drain(..pass);
            }
            return None;
        };
        if start > 0 {
            out(&self.pending[..start]);
            self.pending.drain(..start);
        }
        // The marker now opens `pending`; the report ends at the first newline after it.
        let after = self.marker.len();
        if let Some(nl) = self.pending[after..].iter().position(|&b| b == b'\n') {
            let digits = &self.pending[after..after + nl];
            let digits = digits.strip_suffix(b"\r").unwrap_or(digits);
            let pid = std::str::from_utf8(digits)
                .ok()
                .and_then(|s| s.parse::<u32>().ok());
            self.done = true;
            let pending = std::mem::take(&mut self.pending);
            out(&pending[after + nl + 1..]);
            return pid.filter(|p| *p > 1);
        }
        if self.pending.len() > SEARCH_LIMIT {
            self.done = true;
            out(&std::mem::take(&mut self.pending));
        }
        None
    }

    /// Passes on whatever is still held back (the stream ended before a report).
    pub fn finish(&mut self, out: &mut impl FnMut(&[u8])) {
        self.done = true;
        if !self.pending.is_empty() {
            out(&std::mem::take(&mut self.pending));
        }
    }
}

/// The length of the longest tail of `data` that is a beginning of `marker` (shorter than it).
fn longest_marker_prefix_at_end(data: &[u8], marker: &[u8]) -> usize {
    (1..marker.len().min(data.len() + 1))
        .rev()
        .find(|&n| data.ends_with(&marker[..n]))
        .unwrap_or(0)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Random bytes in a pid report's nonce (it is sent as twice as many hex digits).
pub const NONCE_BYTES: usize = 8;

/// Hex digits from the kernel's random source, so a command cannot forge the pid report.
pub fn nonce() -> String {
    let mut bytes = [0u8; NONCE_BYTES];
    let filled = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    if filled.is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        bytes = (t.as_nanos() as u64 ^ u64::from(std::process::id())).to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]]) -> (Vec<u8>, Option<u32>) {
        let mut f = PidReportFilter::new("n1");
        let mut out = Vec::new();
        let mut pid = None;
        for c in chunks {
            if let Some(p) = f.feed(c, &mut |b: &[u8]| out.extend_from_slice(b)) {
                pid = Some(p);
            }
        }
        f.finish(&mut |b: &[u8]| out.extend_from_slice(b));
        (out, pid)
    }

    #[test]
    fn report_is_removed_even_when_split() {
        let (out, pid) = run(&[b"motd\n\x1essh-mcp-p", b"id:n1:4242", b"\nerr\n"]);
        assert_eq!(pid, Some(4242));
        assert_eq!(out, b"motd\nerr\n");
    }

    #[test]
    fn what_comes_before_the_report_is_passed_on_at_once() {
        let mut f = PidReportFilter::new("n1");
        let mut out = Vec::new();
        f.feed(b"user@host's password: ", &mut |b: &[u8]| {
            out.extend_from_slice(b)
        });
        assert_eq!(out, b"user@host's password: ");
        out.clear();
        f.feed(b"banner\x1essh-mc", &mut |b: &[u8]| {
            out.extend_from_slice(b)
        });
        assert_eq!(out, b"banner");
        out.clear();
        let pid = f.feed(b"p-pid:n1:9\nok", &mut |b: &[u8]| out.extend_from_slice(b));
        assert_eq!((pid, out.as_slice()), (Some(9), &b"ok"[..]));
    }

    #[test]
    fn tty_line_ending_is_handled() {
        let (out, pid) = run(&[b"\x1essh-mcp-pid:n1:77\r\nhello\r\n"]);
        assert_eq!(pid, Some(77));
        assert_eq!(out, b"hello\r\n");
    }

    #[test]
    fn a_report_with_another_nonce_is_ordinary_output() {
        let (out, pid) = run(&[b"\x1essh-mcp-pid:zz:77\n"]);
        assert_eq!(pid, None);
        assert_eq!(out, b"\x1essh-mcp-pid:zz:77\n");
    }
}
