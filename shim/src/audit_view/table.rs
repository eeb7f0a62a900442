//! The table `ssh-mcp audit` prints: what each column shows of a record ([`Cells`]), the column
//! widths ([`Layout`]) and the rows, cut to the width of the line. Every cell is made safe for a
//! terminal first: the text comes from agents, so control characters (an escape sequence, a
//! newline) and bidirectional overrides are shown escaped, never sent to the terminal.

use super::record::{Entry, Place, Record};

/// The columns before SUMMARY, which takes the rest of the line.
const HEADERS: [&str; 7] = [
    "TIME (UTC)",
    "CLIENT",
    "TOOL",
    "TARGET",
    "DECISION",
    "OUTCOME",
    "MS",
];

/// The widest each column gets; a longer cell is cut with `…`.
const CAPS: [usize; 7] = [19, 24, 20, 24, 8, 18, 8];

/// The width each column gets at least when rows will come later (`--follow`), so that most
/// rows fit the layout chosen before they were seen.
pub const FOLLOW_FLOORS: [usize; 7] = [19, 16, 12, 12, 8, 8, 5];

/// SUMMARY gets at least this many characters, even on a narrow terminal.
const MIN_SUMMARY: usize = 20;

/// Between two columns.
const GAP: &str = "  ";

/// The text of one row, column by column, made safe for a terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cells {
    fixed: [String; 7],
    summary: String,
}

impl Cells {
    pub fn of(record: &Record) -> Self {
        let or_dash = |v: &Option<String>| match v.as_deref() {
            Some(s) if !s.is_empty() => safe(s),
            _ => "-".to_owned(),
        };
        Self {
            fixed: [
                record
                    .time
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), |t| safe(&utc_time(t))),
                or_dash(&record.client),
                or_dash(&record.tool),
                or_dash(&record.target),
                or_dash(&record.decision),
                safe(&outcome(record)),
                record
                    .duration_ms
                    .map_or_else(|| "-".to_owned(), |ms| ms.to_string()),
            ],
            summary: safe(record.summary.as_deref().unwrap_or("")),
        }
    }
}

/// `2026-12-06T20:40:01.123Z` as `2026-12-06 20:40:01`; a time in another form as written.
pub fn utc_time(time: &str) -> String {
    let b = time.as_bytes();
    let digits = |range: std::ops::Range<usize>| b[range].iter().all(u8::is_ascii_digit);
    let shaped = b.len() >= 19
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't' | b' ')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !shaped {
        return time.to_owned();
    }
    let rest = &time[19..];
    let zone = match rest.strip_prefix('.') {
        Some(frac) => frac.trim_start_matches(|c: char| c.is_ascii_digit()),
        None => rest,
    };
    if matches!(zone, "Z" | "z" | "+00:00") {
        format!("{} {}", &time[..10], &time[11..19])
    } else {
        time.to_owned()
    }
}

/// `ok`, `exit N` for a command that exited non-zero, or the error's type.
pub fn outcome(record: &Record) -> String {
    let exit = record.exit_code.filter(|c| *c != 0);
    match (record.outcome.as_deref(), exit) {
        (Some("error"), _) => record
            .error_type
            .clone()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "error".to_owned()),
        (_, Some(code)) => format!("exit {code}"),
        (Some(o), None) if !o.is_empty() => o.to_owned(),
        _ => "-".to_owned(),
    }
}

/// `text` with every character a terminal would act on shown escaped instead: control
/// characters (C0, DEL, C1) and the marks and overrides that reorder text.
pub fn safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let reorders = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || reorders {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` in at most `width` characters, ending in `…` when it was cut.
pub fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    if width > 0 {
        out.push('…');
    }
    out
}

/// The widths of the columns and of the whole line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    widths: [usize; 7],
    line_width: usize,
}

impl Layout {
    /// Columns as wide as their widest cell among `rows` (and at least their header and
    /// `floors`), at most their cap; SUMMARY gets what is left of `line_width`.
    pub fn fit<'a>(
        rows: impl IntoIterator<Item = &'a Cells>,
        floors: [usize; 7],
        line_width: usize,
    ) -> Self {
        let mut widths: [usize; 7] =
            std::array::from_fn(|i| floors[i].max(HEADERS[i].chars().count()));
        for row in rows {
            for (w, cell) in widths.iter_mut().zip(&row.fixed) {
                *w = (*w).max(cell.chars().count());
            }
        }
        for (w, cap) in widths.iter_mut().zip(CAPS) {
            *w = (*w).min(cap);
        }
        Self { widths, line_width }
    }

    fn summary_width(&self) -> usize {
        let used: usize = self.widths.iter().map(|w| w + GAP.len()).sum();
        self.line_width.saturating_sub(used).max(MIN_SUMMARY)
    }

    fn line(&self, fixed: [&str; 7], summary: &str) -> String {
        let mut line = String::new();
        for (i, (cell, width)) in fixed.iter().zip(self.widths).enumerate() {
            let cell = cut(cell, width);
            let pad = " ".repeat(width - cell.chars().count());
            // MS, a number, is aligned right.
            if i == 6 {
                line.push_str(&pad);
                line.push_str(&cell);
            } else {
                line.push_str(&cell);
                line.push_str(&pad);
            }
            line.push_str(GAP);
        }
        line.push_str(&cut(summary, self.summary_width()));
        line.trim_end().to_owned()
    }

    pub fn header(&self) -> String {
        self.line(HEADERS, "SUMMARY")
    }

    /// The row of one entry: a record's cells, or `?` and what is wrong with the line, in the
    /// space of the other columns.
    pub fn row(&self, entry: &Entry) -> String {
        match entry {
            Entry::Record { record, .. } => self.cells_row(&Cells::of(record)),
            Entry::Unreadable { place, why } => self.unreadable_row(place, why),
        }
    }

    pub fn cells_row(&self, cells: &Cells) -> String {
        let fixed: [&str; 7] = std::array::from_fn(|i| cells.fixed[i].as_str());
        self.line(fixed, &cells.summary)
    }

    fn unreadable_row(&self, place: &Place, why: &str) -> String {
        let time = format!("{:<width$}{GAP}", "?", width = self.widths[0]);
        let room = self
            .line_width
            .saturating_sub(time.chars().count())
            .max(MIN_SUMMARY);
        let text = safe(&format!("{} line {}: {why}", place.file, place.line));
        format!("{time}{}", cut(&text, room))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(target: &str, summary: &str) -> Record {
        Record {
            time: Some("2026-12-06T20:40:01.123Z".into()),
            client: Some("claude-code/1.2.3".into()),
            tool: Some("ssh_exec".into()),
            target: Some(target.into()),
            decision: Some("allowed".into()),
            summary: Some(summary.into()),
            outcome: Some("ok".into()),
            exit_code: Some(0),
            error_type: None,
            duration_ms: Some(12),
        }
    }

    #[test]
    fn times_in_utc_show_to_the_second() {
        assert_eq!(utc_time("2026-12-06T20:40:01.123Z"), "2026-12-06 20:40:01");
        assert_eq!(utc_time("2026-12-06T20:40:01Z"), "2026-12-06 20:40:01");
        assert_eq!(
            utc_time("2026-12-06T20:40:01.5+00:00"),
            "2026-12-06 20:40:01"
        );
        for other in ["2026-12-06T20:40:01+02:00", "yesterday", "", "2026-12-06"] {
            assert_eq!(utc_time(other), other);
        }
    }

    #[test]
    fn the_outcome_is_ok_an_exit_status_or_the_error_type() {
        let ok = exec("h", "true");
        assert_eq!(outcome(&ok), "ok");
        let failed = Record {
            exit_code: Some(2),
            ..ok.clone()
        };
        assert_eq!(outcome(&failed), "exit 2");
        let error = Record {
            outcome: Some("error".into()),
            exit_code: None,
            error_type: Some("policy_denied".into()),
            ..ok.clone()
        };
        assert_eq!(outcome(&error), "policy_denied");
        let untyped = Record {
            error_type: None,
            ..error
        };
        assert_eq!(outcome(&untyped), "error");
        assert_eq!(outcome(&Record::default()), "-");
    }

    #[test]
    fn what_a_terminal_would_act_on_is_shown_escaped() {
        assert_eq!(safe("ls\x1b[2J\nrm"), "ls\\u{1b}[2J\\nrm");
        assert_eq!(safe("a\u{202e}b\tc\u{9b}"), "a\\u{202e}b\\tc\\u{9b}");
        assert_eq!(safe("héllo ✓"), "héllo ✓");
        let cells = Cells::of(&exec("h", "echo \x07"));
        assert_eq!(cells.summary, "echo \\u{7}");
    }

    #[test]
    fn cuts_end_in_an_ellipsis() {
        assert_eq!(cut("abcdef", 6), "abcdef");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("ééééé", 3), "éé…");
        assert_eq!(cut("abc", 0), "");
    }

    #[test]
    fn the_table_aligns_its_columns_and_cuts_the_summary_to_the_line() {
        let rows = [
            Cells::of(&exec("prod-1", "uname -a")),
            Cells::of(&Record {
                client: Some(String::new()),
                tool: Some("Sessions/Attach".into()),
                target: None,
                decision: Some("approved".into()),
                exit_code: Some(127),
                duration_ms: Some(123_456),
                summary: Some("x".repeat(200)),
                ..exec("", "")
            }),
        ];
        let layout = Layout::fit(&rows, [0; 7], 120);
        let lines = [
            layout.header(),
            layout.cells_row(&rows[0]),
            layout.cells_row(&rows[1]),
        ];
        assert_eq!(
            lines[0],
            "TIME (UTC)           CLIENT             TOOL             TARGET  \
             DECISION  OUTCOME       MS  SUMMARY"
        );
        assert_eq!(
            lines[1],
            "2026-12-06 20:40:01  claude-code/1.2.3  ssh_exec         prod-1  \
             allowed   ok            12  uname -a"
        );
        assert!(
            lines[2].starts_with(
                "2026-12-06 20:40:01  -                  Sessions/Attach  -       \
                 approved  exit 127  123456  xxx"
            ),
            "{}",
            lines[2]
        );
        assert!(lines[2].ends_with("x…"));
        assert_eq!(lines[2].chars().count(), 120);
        // Every column starts where the header's does.
        let starts = |line: &str, word: &str| line.find(word).unwrap();
        assert_eq!(starts(&lines[0], "TOOL"), starts(&lines[1], "ssh_exec"));
        assert_eq!(starts(&lines[0], "SUMMARY"), starts(&lines[1], "uname"));
    }

    #[test]
    fn long_cells_are_cut_at_the_cap_and_a_narrow_line_keeps_some_summary() {
        let long = Cells::of(&Record {
            client: Some("c".repeat(100)),
            ..exec(&"t".repeat(100), "s".repeat(100).as_str())
        });
        let layout = Layout::fit([&long], [0; 7], 40);
        let row = layout.cells_row(&long);
        assert!(row.contains(&format!("{}…  ", "c".repeat(23))), "{row}");
        assert!(row.contains(&format!("{}…  ", "t".repeat(23))), "{row}");
        assert!(
            row.ends_with(&format!("{}…", "s".repeat(MIN_SUMMARY - 1))),
            "{row}"
        );
    }

    #[test]
    fn an_unreadable_line_is_a_row_that_says_where_it_is() {
        let layout = Layout::fit([], FOLLOW_FLOORS, 100);
        let entry = Entry::Unreadable {
            place: Place {
                file: "audit.jsonl.1".into(),
                line: 17,
            },
            why: "not valid JSON: {\"ti\x1b".into(),
        };
        assert_eq!(
            layout.row(&entry),
            "?                    audit.jsonl.1 line 17: not valid JSON: {\"ti\\u{1b}"
        );
    }
}
