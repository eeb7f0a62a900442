//! `extra_rsync_args` → [`ExtraRsyncArgs`], through an allowlist (as `allowlist.rs` and
//! `options.rs` do for ssh).
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

use super::InvalidInput;

/// What a value may look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Value {
    /// An include or exclude pattern: any printable text.
    Pattern,
    /// A `--chmod` spec such as `D755,F644` or `u+rwx,go-w`.
    Chmod,
    /// A size such as `10M`, `1.5G`, `100k+1`.
    Size,
    /// A whole number.
    Number,
    /// A whole number, possibly negative.
    Signed,
    /// A word or a comma-separated list of words (algorithms, info flags, suffixes).
    Words,
    /// `--out-format`: printable text (its `%` escapes only format output).
    Format,
    /// `--chown`, `--usermap`, `--groupmap`: user and group names, ids, `:` `,` `*`.
    Owners,
}

/// Long options allowed without a value.
const LONG_FLAGS: &[&str] = &[
    "8-bit-output",
    "acls",
    "append",
    "append-verify",
    "archive",
    "atimes",
    "backup",
    "checksum",
    "compress",
    "copy-dirlinks",
    "copy-links",
    "copy-unsafe-links",
    "crtimes",
    "del",
    "delay-updates",
    "delete",
    "delete-after",
    "delete-before",
    "delete-delay",
    "delete-during",
    "delete-excluded",
    "delete-missing-args",
    "devices",
    "dirs",
    "dry-run",
    "executability",
    "existing",
    "fake-super",
    "force",
    "fsync",
    "fuzzy",
    "group",
    "hard-links",
    "human-readable",
    "ignore-errors",
    "ignore-existing",
    "ignore-missing-args",
    "ignore-non-existing",
    "ignore-times",
    "inc-recursive",
    "inplace",
    "ipv4",
    "ipv6",
    "itemize-changes",
    "keep-dirlinks",
    "links",
    "list-only",
    "mkpath",
    "munge-links",
    "no-implied-dirs",
    "numeric-ids",
    "omit-dir-times",
    "omit-link-times",
    "one-file-system",
    "open-noatime",
    "owner",
    "partial",
    "perms",
    "preallocate",
    "progress",
    "protect-args",
    "prune-empty-dirs",
    "quiet",
    "recursive",
    "relative",
    "safe-links",
    "secluded-args",
    "size-only",
    "sparse",
    "specials",
    "stats",
    "times",
    "update",
    "verbose",
    "whole-file",
    "xattrs",
];

/// Options that `--no-` may turn off.
const NEGATABLE: &[&str] = &[
    "D",
    "compress",
    "devices",
    "g",
    "group",
    "human-readable",
    "i-r",
    "implied-dirs",
    "inc-recursive",
    "l",
    "links",
    "o",
    "owner",
    "p",
    "perms",
    "r",
    "recursive",
    "specials",
    "t",
    "times",
    "v",
    "verbose",
    "W",
    "whole-file",
    "z",
];

/// Long options allowed with a value, and their aliases' canonical names.
const LONG_VALUED: &[(&str, Value)] = &[
    ("block-size", Value::Size),
    ("bwlimit", Value::Size),
    ("checksum-choice", Value::Words),
    ("checksum-seed", Value::Number),
    ("chmod", Value::Chmod),
    ("chown", Value::Owners),
    ("compress-choice", Value::Words),
    ("compress-level", Value::Number),
    ("debug", Value::Words),
    ("exclude", Value::Pattern),
    ("groupmap", Value::Owners),
    ("include", Value::Pattern),
    ("info", Value::Words),
    ("max-alloc", Value::Size),
    ("max-delete", Value::Number),
    ("max-size", Value::Size),
    ("min-size", Value::Size),
    ("modify-window", Value::Signed),
    ("out-format", Value::Format),
    ("skip-compress", Value::Words),
    ("stop-after", Value::Number),
    ("timeout", Value::Number),
    ("usermap", Value::Owners),
];

/// rsync's own short aliases of long options with a value.
const VALUED_ALIASES: &[(&str, &str)] = &[
    ("cc", "checksum-choice"),
    ("zc", "compress-choice"),
    ("zl", "compress-level"),
];

/// Short flags allowed without a value, and how they are emitted.
const SHORT_FLAGS: &[(char, &str)] = &[
    ('4', "--ipv4"),
    ('6', "--ipv6"),
    ('8', "--8-bit-output"),
    ('A', "--acls"),
    ('D', "-D"),
    ('E', "--executability"),
    ('H', "--hard-links"),
    ('I', "--ignore-times"),
    ('J', "--omit-link-times"),
    ('K', "--keep-dirlinks"),
    ('L', "--copy-links"),
    ('N', "--crtimes"),
    ('O', "--omit-dir-times"),
    ('P', "-P"),
    ('R', "--relative"),
    ('S', "--sparse"),
    ('U', "--atimes"),
    ('W', "--whole-file"),
    ('X', "--xattrs"),
    ('a', "--archive"),
    ('b', "--backup"),
    ('c', "--checksum"),
    ('d', "--dirs"),
    ('g', "--group"),
    ('h', "--human-readable"),
    ('i', "--itemize-changes"),
    ('k', "--copy-dirlinks"),
    ('l', "--links"),
    ('m', "--prune-empty-dirs"),
    ('n', "--dry-run"),
    ('o', "--owner"),
    ('p', "--perms"),
    ('q', "--quiet"),
    ('r', "--recursive"),
    ('s', "--secluded-args"),
    ('t', "--times"),
    ('u', "--update"),
    ('v', "--verbose"),
    ('x', "--one-file-system"),
    ('y', "--fuzzy"),
    ('z', "--compress"),
];

/// Short flags allowed with a value.
const SHORT_VALUED: &[(char, &str)] = &[('B', "block-size"), ('@', "modify-window")];

/// Short flags refused, with the reason.
const SHORT_REFUSED: &[(char, &str)] = &[
    (
        'e',
        "it names the remote shell, a local program (the daemon sets it)",
    ),
    (
        'T',
        "it puts temporary files in a directory outside the destination",
    ),
    (
        'f',
        "filter rules can merge local files; use 'exclude' or --include=/--exclude=",
    ),
    (
        'F',
        "it merges filter files; use 'exclude' or --include=/--exclude=",
    ),
    ('M', "it passes options to the remote rsync unchecked"),
    (
        '0',
        "it belongs to the *-from file options, which are refused",
    ),
    ('C', "it reads local ignore files"),
    ('V', "it prints the version instead of transferring"),
];

/// Long options refused, with the reason. Matched whole, case-insensitively and as abbreviations.
const LONG_REFUSED: &[(&str, &str)] = &[
    (
        "rsh",
        "it names the remote shell, a local program (the daemon sets it)",
    ),
    ("rsync-path", "it names the program run on the remote host"),
    ("config", "it reads a local config file"),
    ("daemon", "it starts an rsync daemon"),
    ("password-file", "it reads a local file"),
    ("log-file", "it writes a local file"),
    (
        "log-file-format",
        "it belongs to --log-file, which is refused",
    ),
    ("write-batch", "it writes a local file"),
    ("only-write-batch", "it writes a local file"),
    ("read-batch", "it reads a local file"),
    ("files-from", "it reads a local file"),
    ("exclude-from", "it reads a local file; use 'exclude'"),
    ("include-from", "it reads a local file; use --include="),
    (
        "filter",
        "filter rules can merge local files; use 'exclude' or --include=/--exclude=",
    ),
    ("temp-dir", "it writes outside the destination"),
    ("backup-dir", "it writes outside the destination"),
    ("partial-dir", "it writes outside the destination"),
    ("compare-dest", "it reads outside the destination"),
    ("copy-dest", "it reads outside the destination"),
    ("link-dest", "it links to files outside the destination"),
    ("suffix", "backup names could reach outside the destination"),
    (
        "remote-option",
        "it passes options to the remote rsync unchecked",
    ),
    (
        "old-args",
        "it turns off argument protection, which paths rely on",
    ),
    (
        "no-secluded-args",
        "it turns off argument protection, which paths rely on",
    ),
    (
        "no-protect-args",
        "it turns off argument protection, which paths rely on",
    ),
    (
        "no-s",
        "it turns off argument protection, which paths rely on",
    ),
    (
        "trust-sender",
        "it lets the remote side write outside the destination",
    ),
    ("insecure-links", "it follows symlinks outside the tree"),
    ("remove-source-files", "it deletes the source files"),
    ("copy-as", "it switches the local user"),
    ("early-input", "it reads a local file"),
    (
        "from0",
        "it belongs to the *-from file options, which are refused",
    ),
    ("write-devices", "it writes into device files"),
    ("copy-devices", "it reads device files"),
    ("super", "it asks for super-user actions"),
    ("server", "it is rsync's internal server mode"),
    ("sender", "it is rsync's internal server mode"),
    ("address", "it belongs to rsync daemons"),
    ("port", "it belongs to rsync daemons; use 'port' for ssh"),
    ("sockopts", "it belongs to rsync daemons"),
    ("contimeout", "it belongs to rsync daemons"),
    ("no-motd", "it belongs to rsync daemons"),
    ("protocol", "it forces an old protocol"),
    (
        "blocking-io",
        "it changes how rsync drives the remote shell",
    ),
    (
        "iconv",
        "it converts file names, which can change where files go",
    ),
    ("confine-root", "it changes how operator paths resolve"),
    ("version", "it prints the version instead of transferring"),
    ("help", "it prints help instead of transferring"),
];

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
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Vec<String>, String> {
        let owned: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        ExtraRsyncArgs::parse(&owned)
            .map(|a| a.spelled())
            .map_err(|e| e.0)
    }

    #[test]
    fn safe_options_pass_in_canonical_spelling() {
        assert_eq!(
            parse(&[
                "-avz",
                "--delete-after",
                "--exclude",
                "*.log",
                "--chmod=D755,F644"
            ])
            .unwrap(),
            [
                "--archive",
                "--verbose",
                "--compress",
                "--delete-after",
                "--exclude=*.log",
                "--chmod=D755,F644"
            ]
        );
        assert_eq!(parse(&["--zl=3"]).unwrap(), ["--compress-level=3"]);
        assert_eq!(parse(&["-B", "4096"]).unwrap(), ["--block-size=4096"]);
        assert_eq!(parse(&["-B4096"]).unwrap(), ["--block-size=4096"]);
        assert_eq!(
            parse(&["--no-perms", "-P", "-D"]).unwrap(),
            ["--no-perms", "-P", "-D"]
        );
        assert_eq!(
            parse(&["--exclude=-e touch /tmp/x"]).unwrap(),
            ["--exclude=-e touch /tmp/x"],
            "a pattern is a value, never an option"
        );
        assert_eq!(
            parse(&["--max-size=1.5M", "--bwlimit=100k"]).unwrap().len(),
            2
        );
    }

    /// Every spelling of a dangerous option that popt (or a lenient reader) could take.
    #[test]
    fn hostile_corpus_is_refused_naming_the_option() {
        let corpus: &[(&[&str], &str)] = &[
            (&["-e", "touch /tmp/x"], "-e"),
            (&["-ex"], "-e"),
            (&["-etouch /tmp/x"], "-e"),
            (&["-avze", "x"], "-e (in -avze)"),
            (&["-avzetouch"], "-e (in -avzetouch)"),
            (&["--rsh=touch /tmp/x"], "--rsh"),
            (&["--rsh", "touch /tmp/x"], "--rsh"),
            (&["--rs=x"], "--rsh"),
            (&["--r=x"], "read as"),
            (&["--RSH=x"], "--rsh"),
            (&["--Rsync-Path=x"], "--rsync-path"),
            (&["--rsync-path=touch /tmp/x"], "--rsync-path"),
            (&["--rsync-p=x"], "--rsync-path"),
            (&["--config=/tmp/c"], "--config"),
            (&["--daemon"], "--daemon"),
            (&["--password-file=/etc/shadow"], "--password-file"),
            (&["--log-file=/tmp/x"], "--log-file"),
            (&["--log-file", "/tmp/x"], "--log-file"),
            (&["--log-f=/tmp/x"], "--log-file"),
            (&["--write-batch=/tmp/x"], "--write-batch"),
            (&["--read-batch=/tmp/x"], "--read-batch"),
            (&["--only-write-batch=/tmp/x"], "--only-write-batch"),
            (&["--files-from=/etc/passwd"], "--files-from"),
            (&["--exclude-from=/etc/passwd"], "--exclude-from"),
            (&["--include-from=/etc/passwd"], "--include-from"),
            (&["--temp-dir=/tmp"], "--temp-dir"),
            (&["-T", "/tmp"], "-T"),
            (&["-T/tmp"], "-T"),
            (&["--backup-dir=/tmp"], "--backup-dir"),
            (&["--partial-dir=/tmp"], "--partial-dir"),
            (&["--compare-dest=/etc"], "--compare-dest"),
            (&["--copy-dest=/etc"], "--copy-dest"),
            (&["--link-dest=/etc"], "--link-dest"),
            (&["--filter=merge /tmp/rules"], "--filter"),
            (&["-f", "merge /tmp/rules"], "-f"),
            (&["-vf", "merge /tmp/rules"], "-f (in -vf)"),
            (&["-F"], "-F"),
            (&["-M--rsync-path=x"], "-M"),
            (&["--remote-option=--log-file=/tmp/x"], "--remote-option"),
            (&["--old-args"], "--old-args"),
            (&["--no-s"], "--no-s"),
            (&["--no-protect-args"], "--no-protect-args"),
            (&["--no-secluded-args"], "--no-secluded-args"),
            (&["--trust-sender"], "--trust-sender"),
            (&["--remove-source-files"], "--remove-source-files"),
            (&["--copy-as=root"], "--copy-as"),
            (&["--early-input=/etc/shadow"], "--early-input"),
            (&["--suffix=/../../x"], "--suffix"),
            (&["--server"], "--server"),
            (&["--iconv=x"], "--iconv"),
            (&[" --rsh=x"], "white space"),
            (&["--rsh=x "], "white space"),
            (&["-e\0x"], "control character"),
            (&["--exclude=a\nb"], "control character"),
            (&["--exclude", "a\0b"], "control character"),
            (&["--"], "'--'"),
            (&["/etc/passwd"], "not an option"),
            (&["host:/x"], "not an option"),
            (&["-"], "not an option"),
            (&[""], "empty"),
            (&["--chmod=$(touch /tmp/x)"], "not a valid value"),
            (&["--bwlimit=1;touch"], "not a valid value"),
            (&["--archive=1"], "takes no value"),
            (&["--unknown-thing"], "not on the allowlist"),
            (&["-Q"], "not on the allowlist"),
            (&["-B"], "needs a value"),
            (&["--exclude"], "needs a value"),
        ];
        for (args, needle) in corpus {
            match parse(args) {
                Ok(spelled) => panic!("{args:?} was accepted as {spelled:?}"),
                Err(e) => assert!(e.contains(needle), "{args:?}: {e:?} lacks {needle:?}"),
            }
        }
    }

    /// Whatever the agent sends, every option that passes is one of the allowlist's spellings.
    #[test]
    fn random_mixtures_only_ever_yield_allowlisted_options() {
        const PIECES: &[&str] = &[
            "-",
            "--",
            "-a",
            "-e",
            "-ex",
            "-avze",
            "-B",
            "4096",
            "--rsh",
            "--rs",
            "=",
            "x",
            "--exclude",
            "*.o",
            "--log-file=",
            "/tmp/m",
            "-T",
            "-M",
            "--no-s",
            "-s",
            "-P",
            "--partial-dir",
            "-h",
            "--delete",
            "--chmod=",
            "F600",
            " ",
            "\0",
            "-@",
            "-1",
            "--info=",
            "progress2",
            "--zl",
            "3",
            "-n",
            "--filter",
            "-f",
            "--RSH",
            "-z",
        ];
        let allowed = |o: &str| {
            SHORT_FLAGS.iter().any(|(_, s)| *s == o)
                || LONG_FLAGS.iter().any(|f| o == format!("--{f}"))
                || o.strip_prefix("--no-")
                    .is_some_and(|r| NEGATABLE.contains(&r))
                || LONG_VALUED
                    .iter()
                    .any(|(n, _)| o.starts_with(&format!("--{n}=")))
        };
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        let mut passed = 0;
        for _ in 0..20_000 {
            let len = 1 + next(4);
            let args: Vec<String> = (0..len)
                .map(|_| {
                    let parts = 1 + next(3);
                    (0..parts).map(|_| PIECES[next(PIECES.len())]).collect()
                })
                .collect();
            if let Ok(parsed) = ExtraRsyncArgs::parse(&args) {
                passed += 1;
                for o in parsed.spelled() {
                    assert!(allowed(&o), "{args:?} gave {o:?}");
                    let name = o.split('=').next().unwrap_or_default();
                    assert!(
                        !o.contains('\0') && name.trim() == name,
                        "{args:?} gave {o:?}"
                    );
                }
            }
        }
        assert!(
            passed > 100,
            "the mixture should let some safe options through ({passed})"
        );
    }

    #[test]
    fn no_emitted_option_names_a_program_or_a_local_file() {
        let ok = parse(&["-avzPhciHSxW", "--delete", "--stats", "--itemize-changes"]).unwrap();
        for o in ok {
            for bad in ["--rsh", "-e", "--rsync-path", "--log-file", "--temp-dir"] {
                assert!(!o.starts_with(bad), "{o}");
            }
        }
    }
}
