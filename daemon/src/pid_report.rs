//! [`PidReportFilter`]: finds the remote pid line that `ssh::remote::RemoteCommand::with_pid_report`
//! puts before the command, removes it from the stream, and passes every other byte through.

use ssh_mcp_core::ssh::remote::PID_REPORT_PREFIX;

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
        if let Some(start) = find(&self.pending, &self.marker) {
            let after = start + self.marker.len();
            if let Some(nl) = self.pending[after..].iter().position(|&b| b == b'\n') {
                let digits = &self.pending[after..after + nl];
                let digits = digits.strip_suffix(b"\r").unwrap_or(digits);
                let pid = std::str::from_utf8(digits)
                    .ok()
                    .and_then(|s| s.parse::<u32>().ok());
                self.done = true;
                let pending = std::mem::take(&mut self.pending);
                out(&pending[..start]);
                out(&pending[after + nl + 1..]);
                return pid.filter(|p| *p > 1);
            }
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

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
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
