//! Validation of the numbers agents pass to the session tools: waits, read sizes, input sizes
//! and terminal sizes. Each check refuses at once, with a message naming the field, the allowed
//! range and what was sent, anything not finite, negative or absurd; an absent value takes the
//! default.

use std::time::Duration;

use ssh_mcp_core::ssh::InvalidInput;

/// `wait_seconds` of start, ensure, read and write when left out.
pub const DEFAULT_WAIT_SECONDS: f64 = 1.0;
/// `wait_seconds` of stop when left out.
pub const DEFAULT_STOP_WAIT_SECONDS: f64 = 2.0;
/// Longer waits are refused: reads return as soon as output settles, so a long wait only
/// matters for a quiet command, and an agent should poll that rather than hold a call open.
pub const MAX_WAIT_SECONDS: f64 = 300.0;

/// `max_output_chars` when left out (the reference implementation's default).
pub const DEFAULT_MAX_OUTPUT_CHARS: usize = 65_536;
/// Without `max_output_chars`, a read's output takes at most this many characters of JSON text
/// (escapes counted), so that with the rest of its result it stays within the 50,000 characters
/// clients show whole; more stays pending for the next read.
pub const DEFAULT_OUTPUT_JSON_CHARS: usize = 44_000;
/// The most one read may return; more stays pending for the next read.
pub const MAX_OUTPUT_CHARS_LIMIT: usize = 1_048_576;

/// The most one write may send. Far above anything typed; a file belongs in ssh_create.
pub const MAX_INPUT_BYTES: usize = 1_048_576;

/// Terminal rows allowed. The screen keeps a cell grid (32 bytes a cell, twice for the
/// alternate screen), so the area is bounded: at most 200 × 500 cells is about 6 MiB.
pub const ROWS_RANGE: (u16, u16) = (2, 200);
/// Terminal columns allowed (see [`ROWS_RANGE`]).
pub const COLS_RANGE: (u16, u16) = (10, 500);

/// A terminal size, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermSize {
    pub rows: u16,
    pub cols: u16,
}

impl TermSize {
    /// The size of a session whose agent did not ask for one: tall and wide enough for most
    /// full-screen programs and long command lines.
    pub const DEFAULT: Self = Self {
        rows: 50,
        cols: 200,
    };

    /// Validates a requested size; an absent dimension takes its default.
    pub fn parse(rows: Option<u32>, cols: Option<u32>) -> Result<Self, InvalidInput> {
        Ok(Self {
            rows: dimension("rows", rows, Self::DEFAULT.rows, ROWS_RANGE)?,
            cols: dimension("cols", cols, Self::DEFAULT.cols, COLS_RANGE)?,
        })
    }
}

impl Default for TermSize {
    fn default() -> Self {
        Self::DEFAULT
    }
}

fn dimension(
    field: &str,
    value: Option<u32>,
    default: u16,
    (min, max): (u16, u16),
) -> Result<u16, InvalidInput> {
    let Some(value) = value else {
        return Ok(default);
    };
    match u16::try_from(value) {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(InvalidInput(format!(
            "'{field}' must be between {min} and {max} (got {value}); leave it out for {default}"
        ))),
    }
}

/// Validates a wait in seconds (`field` names it in the message); absent means `default`.
pub fn wait_seconds(
    field: &str,
    value: Option<f64>,
    default: f64,
) -> Result<Duration, InvalidInput> {
    let seconds = value.unwrap_or(default);
    if seconds.is_finite() && (0.0..=MAX_WAIT_SECONDS).contains(&seconds) {
        return Ok(Duration::from_secs_f64(seconds));
    }
    Err(InvalidInput(format!(
        "'{field}' must be a number of seconds from 0 to {MAX_WAIT_SECONDS} (got {seconds}); \
         a read returns as soon as output settles, so poll a long command with several reads"
    )))
}

/// Validates `max_output_chars`; absent means [`DEFAULT_MAX_OUTPUT_CHARS`].
pub fn max_output_chars(value: Option<u64>) -> Result<usize, InvalidInput> {
    let Some(value) = value else {
        return Ok(DEFAULT_MAX_OUTPUT_CHARS);
    };
    match usize::try_from(value) {
        Ok(n) if (1..=MAX_OUTPUT_CHARS_LIMIT).contains(&n) => Ok(n),
        _ => Err(InvalidInput(format!(
            "'max_output_chars' must be between 1 and {MAX_OUTPUT_CHARS_LIMIT} (got {value}); \
             what does not fit stays pending for the next read"
        ))),
    }
}

/// Refuses a write's input beyond [`MAX_INPUT_BYTES`].
pub fn input_len(field: &str, len: usize) -> Result<(), InvalidInput> {
    if len > MAX_INPUT_BYTES {
        return Err(InvalidInput(format!(
            "'{field}' is {len} bytes; at most {MAX_INPUT_BYTES} go in one write: \
             send it in parts, or put a file in place with ssh_create"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_seconds_accepts_the_range_and_defaults() {
        let ok = |v| wait_seconds("wait_seconds", v, DEFAULT_WAIT_SECONDS).unwrap();
        assert_eq!(ok(None), Duration::from_secs(1));
        assert_eq!(ok(Some(0.0)), Duration::ZERO);
        assert_eq!(ok(Some(-0.0)), Duration::ZERO);
        assert_eq!(ok(Some(0.25)), Duration::from_millis(250));
        assert_eq!(ok(Some(MAX_WAIT_SECONDS)), Duration::from_secs(300));
        assert_eq!(
            wait_seconds("wait_seconds", None, DEFAULT_STOP_WAIT_SECONDS).unwrap(),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn wait_seconds_refuses_nan_infinite_negative_and_absurd_values() {
        for bad in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.5,
            300.001,
            1e300,
        ] {
            let err = wait_seconds("wait_seconds", Some(bad), DEFAULT_WAIT_SECONDS).unwrap_err();
            assert!(err.0.starts_with("'wait_seconds' must be"), "{err}");
            assert!(err.0.contains("from 0 to 300"), "{err}");
            assert!(err.0.contains(&format!("got {bad}")), "{err}");
        }
    }

    #[test]
    fn the_field_name_appears_in_the_message() {
        let err = wait_seconds("stop.wait_seconds", Some(f64::NAN), 2.0).unwrap_err();
        assert!(err.0.starts_with("'stop.wait_seconds'"), "{err}");
    }

    #[test]
    fn max_output_chars_takes_one_to_the_limit() {
        assert_eq!(max_output_chars(None).unwrap(), 65_536);
        assert_eq!(max_output_chars(Some(1)).unwrap(), 1);
        assert_eq!(max_output_chars(Some(1_048_576)).unwrap(), 1_048_576);
        for bad in [0, 1_048_577, u64::MAX] {
            let err = max_output_chars(Some(bad)).unwrap_err();
            assert!(err.0.contains("between 1 and 1048576"), "{err}");
            assert!(err.0.contains(&format!("got {bad}")), "{err}");
        }
    }

    #[test]
    fn input_len_refuses_beyond_the_cap() {
        assert!(input_len("input", MAX_INPUT_BYTES).is_ok());
        let err = input_len("input", MAX_INPUT_BYTES + 1).unwrap_err();
        assert!(err.0.starts_with("'input' is 1048577 bytes"), "{err}");
    }

    #[test]
    fn term_size_defaults_and_bounds() {
        assert_eq!(TermSize::parse(None, None).unwrap(), TermSize::default());
        assert_eq!(
            TermSize::parse(Some(24), Some(80)).unwrap(),
            TermSize { rows: 24, cols: 80 }
        );
        assert_eq!(
            TermSize::parse(Some(2), Some(500)).unwrap(),
            TermSize { rows: 2, cols: 500 }
        );
        assert_eq!(TermSize::parse(Some(30), None).unwrap().cols, 200);
        for (rows, cols, field) in [
            (Some(1), None, "'rows'"),
            (Some(201), None, "'rows'"),
            (Some(70_000), None, "'rows'"),
            (None, Some(9), "'cols'"),
            (None, Some(501), "'cols'"),
            (None, Some(u32::MAX), "'cols'"),
        ] {
            let err = TermSize::parse(rows, cols).unwrap_err();
            assert!(err.0.starts_with(field), "{err}");
            assert!(err.0.contains("must be between"), "{err}");
        }
    }
}
