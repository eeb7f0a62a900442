//! `extra_rsync_args` → [`ExtraRsyncArgs`], through an allowlist (`rsync_allowlist.rs`, as
//! `options/allowlist.rs` and `options/extra_ssh_args.rs` do for ssh).
//!
//! rsync reads its options with popt: bundled short flags (`-avz`), a short flag's value attached
//! or in the next element (`-ex`, `-e x`), `--name=value` or `--name value`. An option that names
//! a local program, reads or writes a local file, or reaches outside the destination could turn
//! an "rsync" call into local code execution or a local write (`-avze 'sh -c …'`,
//! `--rsh=…`, `--log-file=~/.bashrc`, `--link-dest=/etc`), so each element is read the way popt
//! would, and only options known to be harmless pass. The argv builder then emits each one in its
//! canonical spelling (`--name` or `--name=value`, never a split value), so rsync never sees the
//! agent's spelling. Abbreviations (`--rs`), other letter cases, white space and control
//! characters are refused with a message that names the option.

use super::rsync_allowlist::{
    LONG_FLAGS, LONG_REFUSED, LONG_VALUED, NEGATABLE, SHORT_FLAGS, SHORT_REFUSED, SHORT_VALUED,
    VALUED_ALIASES, Value,
};
use crate::ssh::InvalidInput;

/// One validated option, in the form the argv builder emits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RsyncOption {
    /// `--name` (or `-D`, `-P`, which have no long form of their own).
    Flag(String),
    /// `--name=value`.
    Valued { name: &'static str, value: String },
}

impl RsyncOption {
    /// The option as one argv element.
    pub fn spelled(&self) -> String {
        match self {
            Self::Flag(f) => f.clone(),
            Self::Valued { name, value } => format!("--{name}={value}"),
        }
    }
}

/// The validated `extra_rsync_args` of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ExtraRsyncArgs(pub Vec<RsyncOption>);

impl ExtraRsyncArgs {
    /// Reads `extra_rsync_args` the way rsync's popt would, keeping allowed options only.
    pub fn parse(args: &[String]) -> Result<Self, InvalidInput> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let at = format!("extra_rsync_args[{i}]");
            let arg = checked(&at, &args[i])?;
            if let Some(long) = arg.strip_prefix("--") {
                if long.is_empty() {
                    return Err(InvalidInput(format!(
                        "{at}: '--' ends rsync's options, so what follows would become a path; \
                         extra_rsync_args may hold only options"
                    )));
                }
                let (name, attached) = match long.split_once('=') {
                    Some((n, v)) => (n, Some(v)),
                    None => (long, None),
                };
                let option = parse_long(&at, name, attached, args, &mut i)?;
                out.push(option);
            } else if let Some(flags) = arg.strip_prefix('-').filter(|f| !f.is_empty()) {
                parse_short(&at, flags, args, &mut i, &mut out)?;
            } else {
                return Err(InvalidInput(format!(
                    "{at}: {arg:?} is not an option; rsync would take it as a path. Put paths in \
                     'source' and 'destination'; extra_rsync_args may hold only options"
                )));
            }
            i += 1;
        }
        Ok(Self(out))
    }

    /// Every option as it goes on rsync's command line.
    pub fn spelled(&self) -> Vec<String> {
        self.0.iter().map(RsyncOption::spelled).collect()
    }

    /// The options that decide which files a sync takes (filters, size, time and link rules,
    /// recursion), without those that shape its output or delete: what a listing of the same
    /// transfer (`argv::rsync_listing`) needs so that it selects exactly the same files.
    pub fn selecting(&self) -> Self {
        const OUTPUT_OR_DELETION: &[&str] = &[
            "--verbose",
            "--no-verbose",
            "--no-v",
            "--quiet",
            "--progress",
            "-P",
            "--itemize-changes",
            "--stats",
            "--human-readable",
            "--no-human-readable",
            "--no-h",
            "--8-bit-output",
            "--dry-run",
            "--list-only",
        ];
        let keeps = |o: &RsyncOption| match o {
            RsyncOption::Flag(f) => {
                !(OUTPUT_OR_DELETION.contains(&f.as_str())
                    || f == "--del"
                    || f.starts_with("--delete"))
            }
            RsyncOption::Valued { name, .. } => !matches!(
                *name,
                "out-format" | "info" | "debug" | "max-delete" | "stop-after"
            ),
        };
        Self(self.0.iter().filter(|o| keeps(o)).cloned().collect())
    }

    /// Whether the agent asked for this long flag (or its short form).
    pub fn has_flag(&self, spelled: &str) -> bool {
        self.count_flag(spelled) > 0
    }

    /// How many times the agent gave this flag (`-hh` is two).
    pub fn count_flag(&self, spelled: &str) -> usize {
        self.0
            .iter()
            .filter(|o| matches!(o, RsyncOption::Flag(f) if f == spelled))
            .count()
    }
}

/// Refuses control characters (NUL, newline, …) and white space around an element.
fn checked<'a>(at: &str, arg: &'a str) -> Result<&'a str, InvalidInput> {
    if let Some(c) = arg.chars().find(|c| c.is_control()) {
        return Err(InvalidInput(format!(
            "{at}: {arg:?} contains the control character {c:?}; rsync options cannot hold one"
        )));
    }
    if arg.trim() != arg || arg.is_empty() {
        return Err(InvalidInput(format!(
            "{at}: {arg:?} has white space around it (or is empty); rsync would read it as a \
             path, not an option. Write the option alone, e.g. \"--exclude=*.log\""
        )));
    }
    Ok(arg)
}

fn refused(at: &str, spelled: &str, why: &str) -> InvalidInput {
    InvalidInput(format!(
        "{at}: rsync option {spelled} is not allowed in extra_rsync_args: {why}"
    ))
}

fn parse_long(
    at: &str,
    name: &str,
    attached: Option<&str>,
    args: &[String],
    i: &mut usize,
) -> Result<RsyncOption, InvalidInput> {
    if let Some((n, why)) = LONG_REFUSED.iter().find(|(n, _)| *n == name) {
        return Err(refused(at, &format!("--{n}"), why));
    }
    let canonical = VALUED_ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map_or(name, |(_, full)| full);
    if let Some(&(n, kind)) = LONG_VALUED.iter().find(|(n, _)| *n == canonical) {
        let value = match attached {
            Some(v) => v.to_owned(),
            None => {
                *i += 1;
                let Some(next) = args.get(*i) else {
                    return Err(InvalidInput(format!("{at}: --{name} needs a value")));
                };
                if let Some(c) = next.chars().find(|c| c.is_control()) {
                    return Err(InvalidInput(format!(
                        "extra_rsync_args[{i}]: the value of --{name} contains the control \
                         character {c:?}"
                    )));
                }
                next.clone()
            }
        };
        check_value(at, n, kind, &value)?;
        return Ok(RsyncOption::Valued { name: n, value });
    }
    let allowed = LONG_FLAGS.contains(&name)
        || name
            .strip_prefix("no-")
            .is_some_and(|rest| NEGATABLE.contains(&rest));
    if allowed {
        if attached.is_some() {
            return Err(InvalidInput(format!("{at}: --{name} takes no value")));
        }
        return Ok(RsyncOption::Flag(format!("--{name}")));
    }
    // Not an allowed spelling: name what it looks like, so the refusal is clear.
    let lower = name.to_ascii_lowercase();
    if let Some((n, why)) = LONG_REFUSED
        .iter()
        .find(|(n, _)| *n == lower || (!lower.is_empty() && n.starts_with(&lower)))
    {
        return Err(refused(
            at,
            &format!("--{name} (read as --{n})"),
            &format!("{why}; options must be spelled out in full and in lower case"),
        ));
    }
    let known = LONG_FLAGS
        .iter()
        .copied()
        .chain(LONG_VALUED.iter().map(|(n, _)| *n));
    if let Some(n) = known
        .clone()
        .find(|n| *n == lower || (!lower.is_empty() && n.starts_with(&lower)))
    {
        return Err(InvalidInput(format!(
            "{at}: --{name} is not an allowed spelling; write --{n} in full and in lower case"
        )));
    }
    Err(InvalidInput(format!(
        "{at}: --{name} is not on the allowlist of rsync options ({})",
        summary()
    )))
}

fn parse_short(
    at: &str,
    flags: &str,
    args: &[String],
    i: &mut usize,
    out: &mut Vec<RsyncOption>,
) -> Result<(), InvalidInput> {
    for (pos, flag) in flags.char_indices() {
        let in_bundle = if flags.len() > 1 {
            format!(" (in -{flags})")
        } else {
            String::new()
        };
        if let Some((_, why)) = SHORT_REFUSED.iter().find(|(c, _)| *c == flag) {
            return Err(refused(at, &format!("-{flag}{in_bundle}"), why));
        }
        if let Some((_, spelled)) = SHORT_FLAGS.iter().find(|(c, _)| *c == flag) {
            out.push(RsyncOption::Flag((*spelled).to_owned()));
            continue;
        }
        if let Some((_, name)) = SHORT_VALUED.iter().find(|(c, _)| *c == flag) {
            let rest = &flags[pos + flag.len_utf8()..];
            let rest = rest.strip_prefix('=').unwrap_or(rest);
            let value = if !rest.is_empty() {
                rest.to_owned()
            } else {
                *i += 1;
                match args.get(*i) {
                    Some(v) if !v.chars().any(char::is_control) => v.clone(),
                    Some(_) => {
                        return Err(InvalidInput(format!(
                            "extra_rsync_args[{i}]: the value of -{flag} contains a control character"
                        )));
                    }
                    None => return Err(InvalidInput(format!("{at}: -{flag} needs a value"))),
                }
            };
            let kind = LONG_VALUED
                .iter()
                .find(|(n, _)| n == name)
                .map_or(Value::Number, |(_, k)| *k);
            check_value(at, name, kind, &value)?;
            out.push(RsyncOption::Valued { name, value });
            return Ok(());
        }
        return Err(InvalidInput(format!(
            "{at}: -{flag}{in_bundle} is not on the allowlist of rsync options ({})",
            summary()
        )));
    }
    Ok(())
}

fn check_value(at: &str, name: &str, kind: Value, value: &str) -> Result<(), InvalidInput> {
    // The value goes to rsync as `--name=value`, one element, which `checked` refuses with white
    // space at its end; a value given apart is held to the same rule.
    if value.ends_with(char::is_whitespace) {
        return Err(InvalidInput(format!(
            "{at}: the value of --{name} ends with white space ({value:?}); remove it"
        )));
    }
    let ok = match kind {
        Value::Pattern | Value::Format => !value.is_empty(),
        Value::Chmod => {
            !value.is_empty()
                && value
                    .chars()
                    .all(|c| "ugoaDF01234567rwxXst+-=,".contains(c))
        }
        Value::Size => {
            !value.is_empty()
                && value.starts_with(|c: char| c.is_ascii_digit() || c == '.')
                && value
                    .chars()
                    .all(|c| c.is_ascii_digit() || ".kKmMgGtTpPbBiI+-".contains(c))
        }
        Value::Number => !value.is_empty() && value.chars().all(|c| c.is_ascii_digit()),
        Value::Signed => {
            let digits = value.strip_prefix('-').unwrap_or(value);
            !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
        }
        Value::Words => {
            !value.is_empty()
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.,+-".contains(c))
        }
        Value::Owners => {
            !value.is_empty()
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.:,*-".contains(c))
        }
    };
    if ok {
        Ok(())
    } else {
        Err(InvalidInput(format!(
            "{at}: {value:?} is not a valid value for --{name}"
        )))
    }
}

fn summary() -> String {
    "allowed: -a -v -z -c -u -n -r -l -p -t -g -o -D -h -P -i -H -S -x -W and long options such \
     as --delete*, --exclude=, --include=, --chmod=, --max-size=, --min-size=, --bwlimit=, \
     --compress-level=, --checksum, --size-only, --ignore-existing, --update, --inplace, \
     --append-verify, --partial, --progress, --stats, --itemize-changes, --human-readable"
        .into()
}

#[cfg(test)]
mod tests;
