//! rsync's `--stats` block: how many files and bytes a sync moved ([`parse`]), and stdout as the
//! agent would have seen it without the `--stats` the daemon adds ([`without_stats`]).

/// What rsync reported it transferred.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// "Number of regular files transferred".
    pub files: u64,
    /// "Total transferred file size" (file bytes sent as data or matched, not wire bytes).
    pub bytes: u64,
}

/// A number as rsync prints it: digits with thousands separators, or with `-h` a short form
/// such as `1.05M` (powers of `unit`: 1000 with one -h, 1024 with -hh).
fn number(text: &str, unit: f64) -> Option<u64> {
    let t = text.trim();
    let head: String = t
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',' || *c == '.')
        .collect();
    let power = match t[head.len()..].chars().next() {
        Some('K' | 'k') => 1,
        Some('M') => 2,
        Some('G') => 3,
        Some('T') => 4,
        Some('P') => 5,
        _ => 0,
    };
    if power == 0 {
        let digits: String = head.chars().filter(char::is_ascii_digit).collect();
        return digits.parse().ok();
    }
    let value: f64 = head.replace(',', ".").parse().ok()?;
    Some((value * unit.powi(power)).round() as u64)
}

/// The statistics in rsync's output, if it printed them. `human` is how many times -h was given.
pub fn parse(stdout: &str, human: usize) -> Option<Stats> {
    let unit = if human >= 2 { 1024.0 } else { 1000.0 };
    let mut files = None;
    let mut bytes = None;
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("Number of regular files transferred:") {
            files = number(rest, unit);
        } else if let Some(rest) = line.strip_prefix("Total transferred file size:") {
            bytes = number(rest, unit);
        }
    }
    Some(Stats {
        files: files?,
        bytes: bytes?,
    })
}

/// stdout as rsync prints it without `--stats`: the block from "Number of files:" through
/// "Total bytes received:" goes, with the blank line after it; unless the agent asked for
/// `verbose` output, the closing "sent … received …" and "total size is …" lines (and the blank
/// line before the block) go too, since rsync prints those only with -v or --stats.
pub fn without_stats(stdout: &str, verbose: bool) -> String {
    let lines: Vec<&str> = stdout.split_inclusive('\n').collect();
    let bare = |l: &str| l.trim_end_matches(['\n', '\r']).to_owned();
    let Some(start) = lines
        .iter()
        .position(|l| bare(l).starts_with("Number of files:"))
    else {
        return stdout.to_owned();
    };
    let Some(end) = lines[start..]
        .iter()
        .position(|l| bare(l).starts_with("Total bytes received:"))
        .map(|i| start + i)
    else {
        return stdout.to_owned();
    };
    let mut kept: Vec<&str> = lines[..start].to_vec();
    if verbose {
        let mut rest = end + 1;
        if lines.get(rest).is_some_and(|l| bare(l).is_empty()) {
            rest += 1;
        }
        kept.extend_from_slice(&lines[rest..]);
    } else {
        if kept.last().is_some_and(|l| bare(l).is_empty()) {
            kept.pop();
        }
        let tail = lines[end + 1..].iter().filter(|l| {
            let b = bare(l);
            !(b.is_empty() || b.starts_with("sent ") || b.starts_with("total size is "))
        });
        kept.extend(tail);
    }
    kept.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "sending incremental file list\nbig\n\nNumber of files: 3 (reg: 2, dir: 1)\n\
Number of created files: 2 (reg: 2)\nNumber of deleted files: 0\n\
Number of regular files transferred: 2\nTotal file size: 1,048,580 bytes\n\
Total transferred file size: 1,048,580 bytes\nLiteral data: 1,048,580 bytes\n\
Matched data: 0 bytes\nFile list size: 0\nFile list generation time: 0.001 seconds\n\
File list transfer time: 0.000 seconds\nTotal bytes sent: 1,049,000\nTotal bytes received: 57\n\n\
sent 1,049,000 bytes  received 57 bytes  2,098,114.00 bytes/sec\n\
total size is 1,048,580  speedup is 1.00\n";

    #[test]
    fn reads_files_and_bytes() {
        assert_eq!(
            parse(SAMPLE, 0),
            Some(Stats {
                files: 2,
                bytes: 1_048_580
            })
        );
        assert_eq!(parse("nothing here", 0), None);
        let human = "Number of regular files transferred: 1.23K\nTotal transferred file size: 1.05M bytes\n";
        assert_eq!(
            parse(human, 1),
            Some(Stats {
                files: 1230,
                bytes: 1_050_000
            })
        );
        assert_eq!(parse(human, 2).unwrap().bytes, 1_101_005);
    }

    #[test]
    fn drops_only_the_block() {
        assert_eq!(
            without_stats(SAMPLE, true),
            "sending incremental file list\nbig\n\nsent 1,049,000 bytes  received 57 bytes  2,098,114.00 bytes/sec\n\
total size is 1,048,580  speedup is 1.00\n"
        );
        let quiet = "\nNumber of files: 1\nTotal bytes received: 5\n\nsent 1 bytes  received 5 bytes\ntotal size is 0  speedup is 0.00 (DRY RUN)\n";
        assert_eq!(without_stats(quiet, false), "");
        assert_eq!(
            without_stats(quiet, true),
            "\nsent 1 bytes  received 5 bytes\ntotal size is 0  speedup is 0.00 (DRY RUN)\n"
        );
        assert_eq!(without_stats("no block\n", false), "no block\n");
    }
}
