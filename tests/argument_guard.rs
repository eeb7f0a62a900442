//! The argument guard, end to end: every case in tests/data/hostile.jsonl (option injection
//! through the target, options that run local commands, load libraries, read config files, write
//! local files, open forwards, each in several spellings) must be refused with InvalidArgument,
//! and none may leave its marker file behind or make the daemon start ssh at all.

use std::path::Path;

use serde_json::Value;
use ssh_mcp_core::pb;

use crate::support::daemon::{Daemon, run_request};
use crate::support::sshd::Sshd;
use crate::support::{Scratch, children_of};

fn field(case: &Value, name: &str, subst: &dyn Fn(&str) -> String) -> Option<String> {
    case.get(name).and_then(Value::as_str).map(subst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_input_is_refused_without_side_effects() {
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let scratch = Scratch::new("guard");
    let corpus = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hostile.jsonl"),
    )
    .unwrap();
    let mut refused = 0;
    for (n, line) in corpus.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let case: Value = serde_json::from_str(line).unwrap();
        let name = case["name"].as_str().unwrap().to_owned();
        let marker = scratch.join(&format!("marker-{n}"));
        let cfg = scratch.join(&format!("evil-{n}.conf"));
        std::fs::write(
            &cfg,
            format!("Host *\n  ProxyCommand touch {}\n", marker.display()),
        )
        .unwrap();
        let subst = |s: &str| {
            s.replace("{MARKER}", &marker.display().to_string())
                .replace("{CFG}", &cfg.display().to_string())
                .replace("{LIB}", &scratch.join("evil.so").display().to_string())
        };
        let mut req = run_request(&format!("touch {}.remote-ran", marker.display()));
        req.connection = Some(pb::Connection {
            target: field(&case, "target", &subst).unwrap_or_default(),
            identity_file: field(&case, "identity_file", &subst),
            known_hosts_file: field(&case, "known_hosts_file", &subst),
            strict_host_key_checking: field(&case, "strict_host_key_checking", &subst),
            extra_ssh_args: case
                .get("extra_ssh_args")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(|v| subst(v.as_str().unwrap())).collect())
                .unwrap_or_default(),
            ..Default::default()
        });
        let result = d.exec(req).await;
        let err = match result {
            Err(e) => e,
            Ok(f) => panic!("case {n} '{name}' was accepted: exit {:?}", f.exit_code),
        };
        assert_eq!(
            err.code(),
            tonic::Code::InvalidArgument,
            "case {n} '{name}': {}",
            err.message()
        );
        assert!(!err.message().is_empty());
        assert!(!marker.exists(), "case {n} '{name}' created its marker");
        assert!(
            !Path::new(&format!("{}.remote-ran", marker.display())).exists(),
            "case {n} '{name}' ran the command"
        );
        refused += 1;
    }
    assert!(refused >= 100, "the corpus shrank: {refused} cases");
    // Refused before any ssh started: no connection was ever made.
    assert_eq!(d.status().await.control_masters, 0);
    assert!(
        !d.log().contains("starting control master"),
        "an ssh was started"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_the_option_and_the_reason() {
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let mut req = run_request("true");
    req.connection = Some(pb::Connection {
        target: "testhost".into(),
        extra_ssh_args: vec!["-o".into(), "ProxyCommand nc %h %p".into()],
        ..Default::default()
    });
    let msg = d.exec(req).await.unwrap_err().message().to_owned();
    assert!(msg.contains("ProxyCommand"), "{msg}");
    assert!(msg.contains("runs a local command"), "{msg}");
    assert!(msg.contains("allowed:"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safe_options_are_accepted_and_used() {
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let mut req = run_request("echo fine");
    req.connection = Some(pb::Connection {
        target: "testhost".into(),
        port: Some(u32::from(sshd.port)),
        identity_file: Some(sshd.identity().display().to_string()),
        known_hosts_file: Some(sshd.dir.join("known_hosts").display().to_string()),
        strict_host_key_checking: Some("yes".into()),
        extra_ssh_args: vec![
            "-o".into(),
            "ConnectTimeout=5".into(),
            "-C".into(),
            "-oServerAliveInterval 7".into(),
            "-4".into(),
        ],
        ..Default::default()
    });
    let f = d.exec(req).await.unwrap();
    assert_eq!(f.stdout, b"fine\n");
    // Used, not only accepted: the options are on the command line of the master that ran it.
    let masters: Vec<Vec<String>> = children_of(d.pid())
        .into_iter()
        .filter_map(|p| std::fs::read(format!("/proc/{p}/cmdline")).ok())
        .map(|c| {
            c.split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .filter(|args: &Vec<String>| args.iter().any(|a| a == "-M"))
        .collect();
    assert_eq!(masters.len(), 1, "{masters:?}");
    let args = &masters[0];
    let has_pair = |a: &str, b: &str| args.windows(2).any(|w| w[0] == a && w[1] == b);
    assert!(has_pair("-o", "ConnectTimeout=5"), "{args:?}");
    assert!(has_pair("-o", "ServerAliveInterval=7"), "{args:?}");
    assert!(has_pair("-p", &sshd.port.to_string()), "{args:?}");
    assert!(
        has_pair("-i", &sshd.identity().display().to_string()),
        "{args:?}"
    );
    assert!(has_pair("-o", "StrictHostKeyChecking=yes"), "{args:?}");
    assert!(
        args.iter().any(|a| a == "-C") && args.iter().any(|a| a == "-4"),
        "{args:?}"
    );
    // The daemon's defaults give way to the agent's values.
    assert!(!has_pair("-o", "ConnectTimeout=10"), "{args:?}");
    assert!(
        !args.iter().any(|a| a.starts_with("ServerAliveInterval=1")),
        "{args:?}"
    );
}

/// ssh keeps the first value of an option, and the daemon's BatchMode=yes comes first; still, an
/// agent's BatchMode is refused outright, in every spelling, before anything starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_mode_cannot_be_switched_off() {
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let spellings: &[&[&str]] = &[
        &["-o", "BatchMode=no"],
        &["-oBatchMode=no"],
        &["-o", "BatchMode no"],
        &["-o", "BatchMode = no"],
        &["-o", "batchmode=no"],
        &["-o", "BATCHMODE=NO"],
        &["-obAtChMoDe=no"],
        &["-o", " BatchMode=no"],
        &["-o", "BatchMode=\"no\""],
        &["-CoBatchMode=no"],
        &["-4Co", "BatchMode=no"],
        &["-v", "-o", "BatchMode=no"],
        &["-o", "BatchMode=yes"],
    ];
    for args in spellings {
        let mut req = run_request("true");
        req.connection = Some(pb::Connection {
            target: "testhost".into(),
            extra_ssh_args: args.iter().map(|a| (*a).to_owned()).collect(),
            ..Default::default()
        });
        let err = d.exec(req).await.unwrap_err();
        assert_eq!(
            err.code(),
            tonic::Code::InvalidArgument,
            "{args:?}: {err:?}"
        );
        assert!(
            err.message().to_ascii_lowercase().contains("batchmode")
                && err.message().contains("the daemon sets it"),
            "{args:?}: {}",
            err.message()
        );
    }
    assert_eq!(d.status().await.control_masters, 0);
}
