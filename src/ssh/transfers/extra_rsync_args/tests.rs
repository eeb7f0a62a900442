//! Unit tests of the `extra_rsync_args` guard: each spelling popt reads, refused or re-spelled.

use super::*;

fn parse(args: &[&str]) -> Result<Vec<String>, String> {
    let owned: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    ExtraRsyncArgs::parse(&owned)
        .map(|a| a.spelled())
        .map_err(|e| e.0)
}

#[test]
fn a_listing_keeps_what_selects_files_and_drops_output_and_deletion() {
    let owned: Vec<String> = [
        "-avhiP",
        "--include=keep.txt",
        "--exclude=+ also",
        "--exclude=*.txt",
        "--delete-after",
        "--max-size=1M",
        "--out-format=%n",
        "--info=progress2",
        "--update",
        "--no-recursive",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let selecting = ExtraRsyncArgs::parse(&owned).unwrap().selecting().spelled();
    assert_eq!(
        selecting,
        [
            "--archive",
            "--include=keep.txt",
            "--exclude=+ also",
            "--exclude=*.txt",
            "--max-size=1M",
            "--update",
            "--no-recursive"
        ]
    );
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
fn a_value_is_judged_alike_attached_or_apart() {
    // Found by the rsync_args fuzz target: apart, a pattern ending in white space passed,
    // and its one spelling for rsync (`--exclude=x  `) is what the guard refuses attached.
    for args in [
        &["--exclude", "x  "][..],
        &["--exclude=x  "],
        &["--out-format", "%n "],
    ] {
        let e = parse(args).unwrap_err();
        assert!(e.contains("white space"), "{args:?}: {e}");
    }
    assert_eq!(parse(&["--exclude", "a b"]).unwrap(), ["--exclude=a b"]);
    assert_eq!(parse(&["--exclude= a"]).unwrap(), ["--exclude= a"]);
}

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
