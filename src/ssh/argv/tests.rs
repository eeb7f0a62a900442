//! The argv builders' unit tests: what each command line holds and in what order.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::master::{control_master, terminal_master};
use super::rsync::{RsyncCall, RsyncFlags, rsync, rsync_listing, rsync_remote};
use super::scp::{scp, scp_remote};
use super::transfer::Operands;
use super::*;
use crate::ssh::options::connection::{Connection, RawConnection};
use crate::ssh::transfers::extra_rsync_args::ExtraRsyncArgs;
use crate::ssh::transfers::paths::{LocalOperand, RemotePath};

fn settings() -> SshSettings {
    SshSettings {
        ssh: PathBuf::from("/usr/bin/ssh"),
        config_file: Some(PathBuf::from("/etc/ssh-mcp/config")),
        connect_timeout_secs: 10,
        keepalive_interval_secs: 15,
    }
}

#[test]
fn destination_follows_double_dash_and_options_are_canonical() {
    let raw = RawConnection {
        target: "web".into(),
        port: Some(2222),
        extra_ssh_args: vec!["-oconnecttimeout=3".into(), "-Cv".into()],
        ..Default::default()
    };
    let conn = Connection::parse(&raw, None).unwrap();
    let argv = control_master(&settings(), &conn, Path::new("/run/cm/x"));
    let text = argv.display();
    assert!(text.ends_with("-- web"), "{text}");
    assert!(text.contains("-F /etc/ssh-mcp/config"), "{text}");
    assert!(text.contains("-o ConnectTimeout=3"), "{text}");
    assert!(!text.contains("ConnectTimeout=10"), "{text}");
    assert!(text.contains("-C -v"), "{text}");
    let master = control_master(&settings(), &conn, Path::new("/run/cm/x")).display();
    assert!(
        master.contains("-M -N -T -o ControlMaster=yes -S /run/cm/x"),
        "{master}"
    );
    assert!(master.ends_with("-- web"), "{master}");
}

#[test]
fn a_known_hosts_path_with_a_space_stays_one_word_for_the_master() {
    let dir = std::env::temp_dir().join(format!("known hosts {}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("known_hosts");
    let raw = RawConnection {
        target: "web".into(),
        known_hosts_file: Some(file.to_string_lossy().into_owned()),
        ..Default::default()
    };
    let conn = Connection::parse(&raw, None).unwrap();
    let argv = control_master(&settings(), &conn, Path::new("/run/cm/x"));
    let expected = format!("UserKnownHostsFile=\"{}\"", file.display());
    assert!(
        argv.args.iter().any(|a| a.to_string_lossy() == expected),
        "{}",
        argv.display()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_terminal_master_may_prompt_and_still_takes_no_agent_batch_mode() {
    let raw = RawConnection {
        target: "web".into(),
        ..Default::default()
    };
    let conn = Connection::parse(&raw, None).unwrap();
    let argv = terminal_master(&settings(), &conn, Path::new("/run/cm/y"), "exec sh -l");
    let text = argv.display();
    assert!(
        text.starts_with("/usr/bin/ssh -tt -M -o ControlMaster=yes -S /run/cm/y -o ControlPersist=no -o BatchMode=no"),
        "{text}"
    );
    assert!(text.ends_with("-- web exec sh -l"), "{text}");
    assert_eq!(argv.args.last().unwrap(), "exec sh -l");
}

fn transfer_conn(extra: &[&str]) -> Connection {
    let raw = RawConnection {
        target: "u@web".into(),
        port: Some(2222),
        extra_ssh_args: extra.iter().map(|s| (*s).to_owned()).collect(),
        ..Default::default()
    };
    Connection::parse(&raw, None).unwrap()
}

fn local(raw: &str) -> LocalOperand {
    LocalOperand::parse("p", raw, None, Some(Path::new("/work"))).unwrap()
}

fn remote(raw: &str) -> RemotePath {
    RemotePath::parse("p", raw).unwrap()
}

#[test]
fn scp_rides_the_master_and_takes_no_agent_flag_of_its_own() {
    let conn = transfer_conn(&["-l", "alice", "-J", "jump", "-C"]);
    let ops = Operands::Upload {
        sources: vec![local("-e touch x"), local("/a b")],
        destination: remote("-dst"),
    };
    let argv = scp(
        &settings(),
        Path::new("/usr/bin/scp"),
        &conn,
        Path::new("/run/cm/z"),
        &ops,
        true,
        true,
    );
    let args: Vec<String> = argv
        .args
        .iter()
        .map(|a| a.to_string_lossy().into())
        .collect();
    assert_eq!(&args[..3], ["-s", "-S", "/usr/bin/ssh"]);
    let dash = args.iter().position(|a| a == "--").unwrap();
    assert_eq!(
        &args[dash + 1..],
        ["/work/-e touch x", "/a b", "u@web:-dst"]
    );
    let opts = &args[3..dash];
    for pair in opts.chunks(2) {
        assert!(
            matches!(pair[0].as_str(), "-o" | "-F" | "-r" | "-p"),
            "scp got a flag it would read itself: {pair:?}"
        );
    }
    let text = opts.join(" ");
    assert!(text.starts_with("-o BatchMode=yes -o ControlPath=/run/cm/z -o ControlMaster=no"));
    assert!(
        text.contains("-o User=alice -o ProxyJump=jump -o Compression=yes"),
        "{text}"
    );
    assert!(text.contains("-o Port=2222"), "{text}");
    assert!(text.ends_with("-r -p"), "{text}");
}

#[test]
fn scp_download_escapes_glob_characters_of_remote_sources() {
    let ops = Operands::Download {
        sources: vec![remote("a*b?[c]")],
        destination: local("/tmp/d"),
    };
    let argv = scp(
        &settings(),
        Path::new("scp"),
        &transfer_conn(&[]),
        Path::new("/cm"),
        &ops,
        false,
        false,
    );
    let text = argv.display();
    assert!(text.ends_with(r"-- u@web:a\*b\?\[c\] /tmp/d"), "{text}");
}

#[test]
fn rsync_gets_the_ssh_argv_quoted_for_its_own_splitting() {
    let raw = RawConnection {
        target: "::1".into(),
        identity_file: Some("/keys/it's here".into()),
        ..Default::default()
    };
    let conn = Connection::parse(&raw, None).unwrap();
    let ops = Operands::Download {
        sources: vec![remote("-rf x")],
        destination: local("-local"),
    };
    let flags = RsyncFlags {
        compress: true,
        delete: true,
        dry_run: true,
        exclude: vec!["*.o".into()],
    };
    let extra = ExtraRsyncArgs::parse(&["-vh".to_owned()]).unwrap();
    let argv = rsync(&RsyncCall {
        settings: &settings(),
        rsync: Path::new("/usr/bin/rsync"),
        conn: &conn,
        control_path: Path::new("/run/cm/r"),
        operands: &ops,
        flags: &flags,
        extra: &extra,
    });
    let args: Vec<String> = argv
        .args
        .iter()
        .map(|a| a.to_string_lossy().into())
        .collect();
    let e = args.iter().position(|a| a == "-e").unwrap();
    assert_eq!(
        &args[..e],
        [
            "-s",
            "-a",
            "--stats",
            "-z",
            "--delete",
            "--dry-run",
            "--exclude=*.o",
            "--verbose",
            "--human-readable"
        ]
    );
    let shell = &args[e + 1];
    assert!(
        shell.starts_with("'/usr/bin/ssh' '-o' 'BatchMode=yes' '-o' 'ControlPath=/run/cm/r' '-o' 'ControlMaster=no'"),
        "{shell}"
    );
    assert!(
        shell.contains(r#"'IdentityFile="/keys/it''s here"'"#),
        "{shell}"
    );
    assert_eq!(
        path_option("K", Path::new(r#"/a "b"\c#"#)),
        OsString::from(r#"K="/a \"b\"\\c#""#)
    );
    assert_eq!(
        path_option("K", Path::new("/plain")),
        OsString::from("K=/plain")
    );
    assert_eq!(&args[e + 2..], ["--", "[::1]:./-rf x", "/work/-local"]);
    let home = |raw: &str| {
        rsync_remote("h", &remote(raw), false)
            .to_string_lossy()
            .into_owned()
    };
    assert_eq!(home("~"), "h:.");
    assert_eq!(home("~/-a"), "h:./-a");
}

#[test]
fn the_listing_repeats_the_selection_as_a_dry_run_that_itemizes_every_file() {
    let ops = Operands::Upload {
        sources: vec![local("src/")],
        destination: remote(":dst"),
    };
    let flags = RsyncFlags {
        compress: true,
        delete: true,
        dry_run: false,
        exclude: vec!["*.o".into()],
    };
    let extra = ExtraRsyncArgs::parse(&[
        "-v".to_owned(),
        "--include=keep.txt".to_owned(),
        "--exclude=*.txt".to_owned(),
    ])
    .unwrap();
    let argv = rsync_listing(&RsyncCall {
        settings: &settings(),
        rsync: Path::new("rsync"),
        conn: &transfer_conn(&[]),
        control_path: Path::new("/cm"),
        operands: &ops,
        flags: &flags,
        extra: &extra,
    });
    let args: Vec<String> = argv
        .args
        .iter()
        .map(|a| a.to_string_lossy().into())
        .collect();
    let e = args.iter().position(|a| a == "-e").unwrap();
    assert_eq!(
        &args[..e],
        [
            "-s",
            "-a",
            "--dry-run",
            "--checksum",
            "-ii",
            "--out-format=%i %n",
            "--exclude=*.o",
            "--include=keep.txt",
            "--exclude=*.txt"
        ]
    );
    assert_eq!(&args[e + 2..], ["--", "/work/src/", "u@web:./:dst"]);
}

/// No remote path changes what the operand means: `host::x` would be rsync's daemon mode,
/// `rsync://…` and `scp://…` (a host named so, and a path starting with `//`) URLs.
#[test]
fn remote_operands_keep_their_meaning_whatever_the_path_starts_with() {
    let rsync = |host: &str, raw: &str| {
        rsync_remote(host, &remote(raw), false)
            .to_string_lossy()
            .into_owned()
    };
    let scp = |host: &str, raw: &str| {
        scp_remote(host, &remote(raw), false)
            .to_string_lossy()
            .into_owned()
    };
    assert_eq!(rsync("h", ":x"), "h:./:x");
    assert_eq!(rsync("h", "::x"), "h:./::x");
    assert_eq!(rsync("h", "-x"), "h:./-x");
    assert_eq!(rsync("h", "h2:x"), "h:h2:x");
    assert_eq!(rsync("rsync", "//srv/x"), "rsync:/srv/x");
    assert_eq!(rsync("rsync", "///x"), "rsync:/x");
    assert_eq!(rsync("h", "/"), "h:/");
    assert_eq!(
        scp("h", ":x"),
        "h::x",
        "scp reads what follows the first colon"
    );
    assert_eq!(scp("scp", "//etc/x"), "scp:/etc/x");
    assert_eq!(scp("h", "//"), "h:/");
    assert_eq!(scp("h", "~/x"), "h:~/x");
}

#[test]
fn resolved_config_prints_config_for_the_target_after_double_dash() {
    let conn = Connection::parse(
        &RawConnection {
            target: "-oProxyCommand=x".into(),
            ..Default::default()
        },
        None,
    );
    assert!(
        conn.is_err(),
        "a target that is an option never gets this far"
    );
    let conn = Connection::parse(
        &RawConnection {
            target: "admin@web".into(),
            port: Some(2222),
            ..Default::default()
        },
        None,
    )
    .unwrap();
    let argv = super::master::resolved_config(&settings(), &conn);
    let args: Vec<String> = argv
        .args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    assert_eq!(args[0], "-G");
    assert!(args.contains(&"BatchMode=yes".to_string()));
    assert_eq!(&args[args.len() - 2..], ["--", "admin@web"]);
}

#[test]
fn resolved_names_reads_hostname_and_user() {
    let out = "user admin\nhostname 10.0.0.5\nport 22\nhostkeyalias none\n";
    assert_eq!(
        super::master::resolved_names(out),
        (Some("10.0.0.5"), Some("admin"))
    );
    assert_eq!(super::master::resolved_names("port 22\n"), (None, None));
}
