//! What a session looks like on a terminal, and its output as plain text.
//!
//! [`Screen`] feeds the output through a terminal emulator (the `vt100` crate), so that a read in
//! screen mode returns what a person would see — the rows of text and the cursor — which is
//! the only readable form of `top`, `less` or `vim`. [`strip_ansi`] (and [`AnsiStripper`] for a
//! stream) turns output into plain text for the `strip_ansi` read option.

use std::num::NonZeroU16;

use super::limits::TermSize;

/// Longer window titles are cut: the title is shown to the agent, not kept as data.
const MAX_TITLE_BYTES: usize = 256;

/// The terminal state of one session. No scrollback is kept (the output ring holds the
/// history), so memory is the cell grid of the current size only.
pub struct Screen {
    parser: vt100::Parser<TitleKeeper>,
}

impl std::fmt::Debug for Screen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (rows, cols) = self.size();
        f.debug_struct("Screen")
            .field("rows", &rows)
            .field("cols", &cols)
            .finish_non_exhaustive()
    }
}

/// The screen as a read in screen mode returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// One string per terminal row, trailing blanks removed.
    pub rows: Vec<String>,
    /// Zero-based row and column of the cursor.
    pub cursor: (u16, u16),
    /// False while the program has hidden the cursor.
    pub cursor_visible: bool,
    /// True while a full-screen program uses the alternate screen.
    pub alternate_screen: bool,
    /// The last window title the program set, if any.
    pub title: Option<String>,
}

/// Receives the escape sequences that do not draw; keeps only the window title.
#[derive(Default)]
struct TitleKeeper {
    title: Option<String>,
}

impl vt100::Callbacks for TitleKeeper {
    fn set_window_title(&mut self, _: &mut vt100::Screen, title: &[u8]) {
        let title = &title[..title.len().min(MAX_TITLE_BYTES)];
        self.title = Some(String::from_utf8_lossy(title).into_owned());
    }
}

fn non_zero(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).unwrap_or(NonZeroU16::MIN)
}

impl Screen {
    pub fn new(size: TermSize) -> Self {
        Self {
            parser: vt100::Parser::new_with_callbacks(
                non_zero(size.rows),
                non_zero(size.cols),
                0,
                TitleKeeper::default(),
            ),
        }
    }

    /// Applies output, in the order the session produced it.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.parser.process(bytes);
    }

    /// Follows a resize of the session's PTY.
    pub fn resize(&mut self, size: TermSize) {
        self.parser
            .set_size(non_zero(size.rows), non_zero(size.cols));
    }

    /// (rows, cols).
    pub fn size(&self) -> (u16, u16) {
        let (rows, cols) = self.parser.screen().size();
        (rows.get(), cols.get())
    }

    pub fn render(&self) -> Rendered {
        let screen = self.parser.screen();
        let (_, cols) = self.size();
        Rendered {
            rows: screen
                .rows(0, cols)
                .map(|row| row.trim_end().to_owned())
                .collect(),
            cursor: screen.cursor_position(),
            cursor_visible: !screen.hide_cursor(),
            alternate_screen: screen.alternate_screen(),
            title: self.parser.callbacks().title.clone(),
        }
    }
}

/// `bytes` as plain text: escape sequences (CSI, OSC, DCS and the like, charset selections,
/// two-byte escapes) and control characters removed, `\r\n` and a lone `\r` made `\n`, tabs
/// kept, invalid UTF-8 replaced.
pub fn strip_ansi(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    AnsiStripper::default().push(bytes, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// [`strip_ansi`] for a stream: an escape sequence or a `\r\n` split between two pushes is
/// handled as if it had come in one.
#[derive(Debug, Default)]
pub struct AnsiStripper {
    state: State,
    /// A `\r` not yet known to start a `\r\n`: it becomes one `\n` when text or `\n` follows,
    /// and nothing if the output ends there.
    pending_cr: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Text,
    /// After ESC.
    Escape,
    /// After ESC and intermediate bytes, such as `ESC (` before a charset's final byte.
    EscapeIntermediate,
    /// Inside `ESC [ … final`.
    Csi,
    /// Inside `ESC ] …`, ended by BEL or ST.
    Osc,
    /// Inside `ESC P`, `ESC X`, `ESC ^` or `ESC _` strings, ended by ST.
    ControlString,
    /// After ESC inside an OSC or a control string: `\` ends it (ST).
    StringEscape,
}

const ESC: u8 = 0x1B;
const BEL: u8 = 0x07;

impl AnsiStripper {
    /// Appends the plain text of `bytes` to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        for &b in bytes {
            self.byte(b, out);
        }
    }

    fn byte(&mut self, b: u8, out: &mut Vec<u8>) {
        self.state = match self.state {
            State::Text => return self.text(b, out),
            State::Escape => match b {
                b'[' => State::Csi,
                b']' => State::Osc,
                b'P' | b'X' | b'^' | b'_' => State::ControlString,
                0x20..=0x2F => State::EscapeIntermediate,
                // A two-byte escape such as ESC 7, ESC = or ESC M.
                0x30..=0x7E => State::Text,
                ESC => State::Escape,
                // A lone ESC: what follows is ordinary output.
                _ => return self.lone_escape(b, out),
            },
            State::EscapeIntermediate => match b {
                0x20..=0x2F => State::EscapeIntermediate,
                0x30..=0x7E => State::Text,
                ESC => State::Escape,
                _ => return self.lone_escape(b, out),
            },
            State::Csi => match b {
                // Parameters and intermediates.
                0x20..=0x3F => State::Csi,
                // The final byte.
                0x40..=0x7E => State::Text,
                ESC => State::Escape,
                // A broken sequence: drop it, keep what follows.
                _ => return self.lone_escape(b, out),
            },
            State::Osc => match b {
                BEL => State::Text,
                ESC => State::StringEscape,
                _ => State::Osc,
            },
            State::ControlString => match b {
                ESC => State::StringEscape,
                _ => State::ControlString,
            },
            State::StringEscape => match b {
                b'\\' => State::Text,
                // ESC that is not ST starts a new sequence (the string was cut short).
                _ => {
                    self.state = State::Escape;
                    return self.byte(b, out);
                }
            },
        };
    }

    fn lone_escape(&mut self, b: u8, out: &mut Vec<u8>) {
        self.state = State::Text;
        self.text(b, out);
    }

    fn text(&mut self, b: u8, out: &mut Vec<u8>) {
        match b {
            b'\r' => self.pending_cr = true,
            b'\n' => {
                self.pending_cr = false;
                out.push(b'\n');
            }
            ESC => self.state = State::Escape,
            b'\t' | 0x20..=0x7E | 0x80..=0xFF => {
                if std::mem::take(&mut self.pending_cr) {
                    out.push(b'\n');
                }
                out.push(b);
            }
            // Other control characters (bell, backspace, shift-in/out, DEL) print nothing.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screen(rows: u16, cols: u16) -> Screen {
        Screen::new(TermSize { rows, cols })
    }

    #[test]
    fn draws_text_where_cursor_moves_put_it() {
        let mut s = screen(5, 20);
        // Row 2 column 5, then row 4 column 1, then back to row 1 column 10 (1-based).
        s.feed(b"\x1b[2;5Hhello\x1b[4;1Hworld\x1b[1;10HX");
        let r = s.render();
        assert_eq!(r.rows, ["         X", "    hello", "", "world", ""]);
        assert_eq!(r.cursor, (0, 10));
        assert!(r.cursor_visible);
        assert!(!r.alternate_screen);
    }

    #[test]
    fn clear_screen_empties_the_rows_and_homes_the_cursor() {
        let mut s = screen(4, 20);
        s.feed(b"line one\r\nline two\r\n");
        assert_eq!(s.render().rows[..2], ["line one", "line two"]);
        s.feed(b"\x1b[H\x1b[2J");
        let r = s.render();
        assert!(r.rows.iter().all(String::is_empty), "{:?}", r.rows);
        assert_eq!(r.cursor, (0, 0));
    }

    #[test]
    fn overwriting_a_line_shows_only_the_last_text() {
        let mut s = screen(3, 20);
        s.feed(b"progress 10%\rprogress 100%\x1b[K");
        assert_eq!(s.render().rows[0], "progress 100%");
    }

    #[test]
    fn output_past_the_bottom_scrolls() {
        let mut s = screen(3, 10);
        s.feed(b"1\r\n2\r\n3\r\n4\r\n5");
        let r = s.render();
        assert_eq!(r.rows, ["3", "4", "5"]);
        assert_eq!(r.cursor, (2, 1));
    }

    #[test]
    fn resize_changes_the_grid_and_the_program_can_redraw() {
        let mut s = screen(5, 40);
        s.feed(b"\x1b[1;1Habcdefghijklmnopqrstuvwxyz");
        s.resize(TermSize { rows: 3, cols: 10 });
        assert_eq!(s.size(), (3, 10));
        let r = s.render();
        assert_eq!(r.rows.len(), 3);
        assert_eq!(r.rows[0], "abcdefghij");
        s.resize(TermSize { rows: 6, cols: 30 });
        s.feed(b"\x1b[6;25Hend");
        let r = s.render();
        assert_eq!(r.rows.len(), 6);
        assert_eq!(r.rows[5], format!("{}end", " ".repeat(24)));
    }

    #[test]
    fn full_screen_programs_use_the_alternate_screen_and_set_a_title() {
        let mut s = screen(4, 20);
        s.feed(b"$ top\r\n");
        s.feed(b"\x1b]2;top - load 0.1\x07\x1b[?1049h\x1b[?25l\x1b[H\x1b[2Jtop view");
        let r = s.render();
        assert!(r.alternate_screen);
        assert!(!r.cursor_visible);
        assert_eq!(r.rows[0], "top view");
        assert_eq!(r.title.as_deref(), Some("top - load 0.1"));
        // Leaving restores the shell's screen.
        s.feed(b"\x1b[?1049l\x1b[?25h");
        let r = s.render();
        assert_eq!(r.rows[0], "$ top");
        assert!(r.cursor_visible);
    }

    #[test]
    fn multibyte_and_wide_characters_render() {
        let mut s = screen(2, 20);
        s.feed("héllo 世界".as_bytes());
        assert_eq!(s.render().rows[0], "héllo 世界");
        assert_eq!(s.render().cursor, (0, 10));
    }

    #[test]
    fn a_long_title_is_cut() {
        let mut s = screen(2, 20);
        s.feed(format!("\x1b]0;{}\x07", "t".repeat(10_000)).as_bytes());
        assert_eq!(s.render().title.map(|t| t.len()), Some(MAX_TITLE_BYTES));
    }

    #[test]
    fn strip_ansi_removes_colours_and_cursor_moves() {
        assert_eq!(
            strip_ansi(b"\x1b[1;31mred\x1b[0m and \x1b[38;5;208morange\x1b[m\x1b[2K\x1b[10;20H!"),
            "red and orange!"
        );
        assert_eq!(strip_ansi(b"\x1b[?2004hprompt$ \x1b[?2004l"), "prompt$ ");
    }

    #[test]
    fn strip_ansi_removes_osc_and_control_strings() {
        assert_eq!(strip_ansi(b"\x1b]0;user@host: ~\x07$ "), "$ ");
        assert_eq!(
            strip_ansi(b"\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\"),
            "link"
        );
        assert_eq!(strip_ansi(b"a\x1bPq#0;2;0;0;0\x1b\\b"), "ab");
        assert_eq!(strip_ansi(b"a\x1b_payload\x1b\\b"), "ab");
    }

    #[test]
    fn strip_ansi_removes_charset_and_two_byte_escapes() {
        assert_eq!(strip_ansi(b"\x1b(0lqk\x1b(B"), "lqk");
        assert_eq!(strip_ansi(b"\x1b7saved\x1b8\x1b=\x1b>\x1bM"), "saved");
        assert_eq!(strip_ansi(b"\x1b#8x"), "x");
    }

    #[test]
    fn strip_ansi_survives_lone_and_broken_escapes() {
        assert_eq!(strip_ansi(b"a\x1b\nb"), "a\nb");
        assert_eq!(strip_ansi(b"end\x1b"), "end");
        assert_eq!(strip_ansi(b"a\x1b\x1b[31mb"), "ab");
        assert_eq!(strip_ansi("x\x1b€y".as_bytes()), "x€y");
        assert_eq!(strip_ansi(b"\x1b[12\nnext"), "\nnext");
        // An OSC cut short by another escape does not swallow what follows.
        assert_eq!(strip_ansi(b"\x1b]0;title\x1b[31mtext"), "text");
    }

    #[test]
    fn strip_ansi_normalises_line_ends_and_keeps_tabs() {
        assert_eq!(strip_ansi(b"a\r\nb\r\r\nc\n"), "a\nb\nc\n");
        assert_eq!(strip_ansi(b"10%\r50%\r100%\r\n"), "10%\n50%\n100%\n");
        assert_eq!(strip_ansi(b"col1\tcol2\x07\x08\x0e\x7f"), "col1\tcol2");
        assert_eq!(strip_ansi(b"trailing\r"), "trailing");
        assert_eq!(strip_ansi(b"\r\x1b[Kredrawn"), "\nredrawn");
    }

    #[test]
    fn strip_ansi_keeps_utf8_and_replaces_invalid_bytes() {
        assert_eq!(strip_ansi("naïve 世界 😀".as_bytes()), "naïve 世界 😀");
        assert_eq!(strip_ansi(b"a\xffb"), "a\u{FFFD}b");
    }

    #[test]
    fn the_stream_stripper_joins_sequences_split_between_pushes() {
        let mut stripper = AnsiStripper::default();
        let mut out = Vec::new();
        for part in [
            &b"red \x1b[3"[..],
            b"1mtext\x1b]0;ti",
            b"tle\x07 done\r",
            b"\nnext",
        ] {
            stripper.push(part, &mut out);
        }
        assert_eq!(String::from_utf8(out).unwrap(), "red text done\nnext");
    }
}
